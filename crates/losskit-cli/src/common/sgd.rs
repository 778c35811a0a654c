//! `torch.optim.SGD` (momentum with dampening 0, L2 weight decay) as a burn [`Optimizer`]
//! that updates a parameter and its velocity in place, in one pass over flex storage.
//!
//! burn's `Sgd` with `MomentumConfig { dampening: 0 }` computes the same numbers as five
//! tensor ops per parameter, each a pass over memory and most a fresh buffer; on the
//! tutorial's network that was about a sixth of a training step (docs/performance.md).
//! Here each element is updated with burn's operations in burn's order and precision
//! (`g + p wd`, `g + v m` with the momentum rounded to f32 as burn stores it, `p - v lr`),
//! so the results are bit for bit burn's, and the state is recorded under burn's names
//! (`momentum.velocity`): checkpoints written by either optimizer load into the other.
//! Tensors on another backend, or of another dtype, take burn's ops.

use burn::backend::Flex;
use burn::optim::{LearningRate, ModuleOptimizer, Optimizer, RecordState, StateSink, StateSource};
use burn::tensor::{DType, Device, Element, Tensor};
use burn_flex::FlexTensor;
use rayon::prelude::*;

/// Elements per rayon task: below this the update runs on the calling thread, where a
/// hand-off would cost more than the pass (a bias, or all of a small network).
const TASK: usize = 1 << 16;

/// SGD with optional momentum (dampening 0, not Nesterov) and L2 weight decay.
#[derive(Debug, Clone, Copy)]
pub struct Sgd {
    /// The momentum factor, as burn keeps it (f32); `None` without momentum.
    momentum: Option<f32>,
    /// The L2 penalty added to the gradient, as burn keeps it (f32).
    weight_decay: Option<f32>,
}

/// The state of one parameter: its velocity (none without momentum).
#[derive(Debug, Clone)]
pub struct Velocity<const D: usize> {
    velocity: Option<Tensor<D>>,
}

impl Sgd {
    /// SGD with momentum `momentum` (0: none) and weight decay `weight_decay` (0: none).
    pub fn new(momentum: f64, weight_decay: f64) -> Self {
        Self {
            momentum: (momentum > 0.0).then_some(momentum as f32),
            weight_decay: (weight_decay > 0.0).then_some(weight_decay as f32),
        }
    }

    /// The optimizer of a whole module.
    pub fn init(self) -> ModuleOptimizer {
        ModuleOptimizer::from(self)
    }

    /// burn's ops, for tensors the in-place pass does not take.
    fn composed<const D: usize>(
        &self,
        lr: LearningRate,
        param: Tensor<D>,
        mut grad: Tensor<D>,
        velocity: Option<Tensor<D>>,
    ) -> (Tensor<D>, Option<Tensor<D>>) {
        if let Some(wd) = self.weight_decay {
            grad = param.clone().mul_scalar(wd).add(grad);
        }
        let velocity = self.momentum.map(|m| match velocity {
            Some(v) => grad.clone().add(v.mul_scalar(m)),
            None => grad.clone(),
        });
        let step = velocity.clone().unwrap_or(grad);
        (param - step.mul_scalar(lr), velocity)
    }
}

impl<const D: usize> RecordState for Velocity<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        if let Some(v) = &self.velocity {
            out.push_tensor(&join(prefix, "momentum"), "velocity", v.clone().into_data());
        }
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let velocity = src
            .take_tensor(&join(prefix, "momentum"), "velocity")
            .map(|data| Tensor::from_data(data, device));
        Some(Self { velocity })
    }
}

/// burn's state names: `prefix.leaf`, or `leaf` under an empty prefix.
fn join(prefix: &str, leaf: &str) -> String {
    if prefix.is_empty() {
        leaf.to_string()
    } else {
        format!("{prefix}.{leaf}")
    }
}

impl Optimizer for Sgd {
    type State<const D: usize> = Velocity<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        param: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let velocity = state.and_then(|s| s.velocity);
        // The first step with momentum starts the velocity from the gradient, once per
        // parameter: burn's ops do it.
        let takes = in_place_takes(&param, &grad, velocity.as_ref()) && (self.momentum.is_none() || velocity.is_some());
        let (param, velocity) = if takes {
            self.in_place(lr, param, grad, velocity)
        } else {
            self.composed(lr, param, grad, velocity)
        };
        (param, Some(Velocity { velocity }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        Velocity {
            velocity: state.velocity.map(|v| v.to_device(device)),
        }
    }
}

/// Whether the in-place pass takes these tensors: all on flex, f32 or f64, of one dtype and
/// shape.
fn in_place_takes<const D: usize>(param: &Tensor<D>, grad: &Tensor<D>, velocity: Option<&Tensor<D>>) -> bool {
    let on_flex = |t: &Tensor<D>| t.clone().try_into_primitive::<Flex>().is_ok();
    let dtype = param.dtype();
    let alike = |t: &Tensor<D>| t.dtype() == dtype && t.dims() == param.dims() && on_flex(t);
    matches!(dtype, DType::F32 | DType::F64) && alike(param) && alike(grad) && velocity.is_none_or(alike)
}

impl Sgd {
    /// The update on flex storage, written into the parameter's and the velocity's own
    /// buffers when nothing else holds them. The tensors are the ones
    /// [`in_place_takes`] took.
    fn in_place<const D: usize>(
        &self,
        lr: LearningRate,
        param: Tensor<D>,
        grad: Tensor<D>,
        velocity: Option<Tensor<D>>,
    ) -> (Tensor<D>, Option<Tensor<D>>) {
        let flex = |t: Tensor<D>| {
            t.try_into_primitive::<Flex>()
                .expect("in_place_takes checked that it is on flex")
        };
        let (mut p, g) = (flex(param), flex(grad));
        let mut v = velocity.map(flex);
        match p.dtype() {
            DType::F32 => self.update::<f32>(lr as f32, &mut p, &g, v.as_mut(), f32::from),
            _ => self.update::<f64>(lr, &mut p, &g, v.as_mut(), f64::from),
        }
        (Tensor::from_primitive::<Flex>(p), v.map(Tensor::from_primitive::<Flex>))
    }

    /// One pass: `g' = g + p wd`, then with momentum `v = g' + v m` and `p -= v lr`,
    /// without it `p -= g' lr`.
    fn update<T: Real>(
        &self,
        lr: T,
        p: &mut FlexTensor,
        g: &FlexTensor,
        v: Option<&mut FlexTensor>,
        from_f32: fn(f32) -> T,
    ) {
        let pass = Pass {
            lr,
            weight_decay: self.weight_decay.map(from_f32),
        };
        let g = contiguous(g);
        let grad = g.as_slice::<T>().expect("a contiguous tensor reads as one slice");
        let params = writable::<T>(p);
        let small = grad.len() <= TASK;
        match (v, self.momentum.map(from_f32)) {
            (Some(v), Some(m)) => {
                let velocity = writable::<T>(v);
                if small {
                    pass.with_momentum(m, params, velocity, grad);
                } else {
                    params
                        .par_chunks_mut(TASK)
                        .zip(velocity.par_chunks_mut(TASK))
                        .zip(grad.par_chunks(TASK))
                        .for_each(|((p, v), g)| pass.with_momentum(m, p, v, g));
                }
            }
            _ if small => pass.plain(params, grad),
            _ => params
                .par_chunks_mut(TASK)
                .zip(grad.par_chunks(TASK))
                .for_each(|(p, g)| pass.plain(p, g)),
        }
    }
}

/// The update of a run of elements.
#[derive(Clone, Copy)]
struct Pass<T> {
    lr: T,
    weight_decay: Option<T>,
}

impl<T: Real> Pass<T> {
    #[inline(always)]
    fn decayed(self, p: T, g: T) -> T {
        match self.weight_decay {
            Some(wd) => p * wd + g,
            None => g,
        }
    }

    /// `v = g' + v m`, `p -= v lr`, with 16-lane vectors where the CPU has them (the same
    /// operations: Rust never fuses a multiply and an add on its own).
    fn with_momentum(self, m: T, p: &mut [T], v: &mut [T], g: &[T]) {
        #[inline(always)]
        fn run<T: Real>(pass: Pass<T>, m: T, p: &mut [T], v: &mut [T], g: &[T]) {
            for ((p, v), &g) in p.iter_mut().zip(v.iter_mut()).zip(g) {
                *v = pass.decayed(*p, g) + *v * m;
                *p = *p - *v * pass.lr;
            }
        }
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f")]
            fn wide<T: Real>(pass: Pass<T>, m: T, p: &mut [T], v: &mut [T], g: &[T]) {
                run(pass, m, p, v, g)
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the feature was detected at run time.
                return unsafe { wide(self, m, p, v, g) };
            }
        }
        run(self, m, p, v, g)
    }

    /// `p -= g' lr`, with 16-lane vectors where the CPU has them.
    fn plain(self, p: &mut [T], g: &[T]) {
        #[inline(always)]
        fn run<T: Real>(pass: Pass<T>, p: &mut [T], g: &[T]) {
            for (p, &g) in p.iter_mut().zip(g) {
                *p = *p - pass.decayed(*p, g) * pass.lr;
            }
        }
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f")]
            fn wide<T: Real>(pass: Pass<T>, p: &mut [T], g: &[T]) {
                run(pass, p, g)
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the feature was detected at run time.
                return unsafe { wide(self, p, g) };
            }
        }
        run(self, p, g)
    }
}

/// The element types of the in-place pass.
trait Real:
    Element
    + bytemuck::Pod
    + Send
    + Sync
    + core::ops::Add<Output = Self>
    + core::ops::Mul<Output = Self>
    + core::ops::Sub<Output = Self>
{
}
impl Real for f32 {}
impl Real for f64 {}

/// `t` itself when it is row-major from offset 0, else a contiguous copy.
fn contiguous(t: &FlexTensor) -> std::borrow::Cow<'_, FlexTensor> {
    if t.is_contiguous() && t.layout().start_offset() == 0 {
        std::borrow::Cow::Borrowed(t)
    } else {
        std::borrow::Cow::Owned(t.to_contiguous())
    }
}

/// The elements of `t` to write: its own storage when it holds it alone and row-major from
/// offset 0, else that of a copy.
fn writable<T: Real>(t: &mut FlexTensor) -> &mut [T] {
    if !(t.is_contiguous() && t.layout().start_offset() == 0) {
        *t = t.to_contiguous();
    }
    let n = t.layout().num_elements();
    &mut t.storage_mut::<T>()[..n]
}
