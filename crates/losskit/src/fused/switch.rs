//! Whether the fused kernels may take a call: the thread's kill switch, the backend and
//! dtype of the input, and whether every other operand is a constant.

use burn::tensor::{DType, Tensor};

thread_local! {
    static ENABLED: core::cell::Cell<bool> = const { core::cell::Cell::new(true) };
}

/// Runs `f` with the fused kernels off on this thread, so every loss takes the composed
/// tensor-op path (what other backends run); for comparisons and benchmarks.
pub fn with_composed<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            ENABLED.with(|e| e.set(self.0));
        }
    }
    let _restore = Restore(ENABLED.with(|e| e.replace(false)));
    f()
}

/// The flex tensor under `tensor` (with or without autodiff), or `None` on any other
/// backend: where the kernels can run and read storage in place.
fn flex_primitive<const D: usize>(tensor: &Tensor<D>) -> Option<burn_flex::FlexTensor> {
    use burn::backend::Flex;
    use burn_autodiff::Autodiff;
    use burn_autodiff::checkpoint::strategy::{BalancedCheckpointing, NoCheckpointing};
    let t = || tensor.clone();
    t().try_into_primitive::<Flex>()
        .ok()
        .or_else(|| {
            t().try_into_primitive::<Autodiff<Flex, NoCheckpointing>>()
                .ok()
                .map(|p| p.primitive().clone())
        })
        .or_else(|| {
            t().try_into_primitive::<Autodiff<Flex, BalancedCheckpointing>>()
                .ok()
                .map(|p| p.primitive().clone())
        })
}

/// Whether `tensor` is on flex (with or without autodiff), where the kernels read storage.
pub(crate) fn is_flex<const D: usize>(tensor: &Tensor<D>) -> bool {
    flex_primitive(tensor).is_some()
}

/// Whether a fused call that differentiates all of its operands (the linear cross
/// entropy, the dense layer) may take `input` with its `weight` and `bias`:
/// [`kernels_can_take`] for `input`, and the others on flex in `input`'s dtype.
pub(crate) fn kernels_can_take_with_weights(input: &Tensor<2>, weight: &Tensor<2>, bias: Option<&Tensor<1>>) -> bool {
    let dtype = input.dtype();
    let fits = |on_flex: bool, d: DType| on_flex && d == dtype;
    kernels_can_take(input, &[])
        && fits(is_flex(weight), weight.dtype())
        && bias.is_none_or(|b| fits(is_flex(b), b.dtype()))
}

/// Whether a fused kernel may take `input`: kernels on, a non-empty f32 or f64 tensor on
/// flex, and no other operand needing a gradient (`operands_need_grad`: one flag per other
/// floating-point operand), since the loss kernels differentiate `input` alone (the linear
/// cross entropy and the dense layer, which differentiate every operand, pass no flags and
/// check their other operands' backend and dtype themselves). Empty inputs take the
/// composed path, which has PyTorch's empty results.
pub(crate) fn kernels_can_take<const D: usize>(input: &Tensor<D>, operands_need_grad: &[bool]) -> bool {
    let dtype = input.dtype();
    ENABLED.with(|e| e.get())
        && (dtype == DType::F32 || dtype == DType::F64)
        && input.shape().num_elements() > 0
        && !operands_need_grad.contains(&true)
        && flex_primitive(input).is_some()
}

/// The first value of `tensor` outside `[0, 1]` (NaN included), read in place from flex
/// storage; `None` when the tensor is not on flex (the caller then reads a copy).
pub(crate) fn first_outside_unit<const D: usize>(tensor: &Tensor<D>) -> Option<Option<f64>> {
    fn scan(t: &burn_flex::FlexTensor) -> Option<f64> {
        let bad = |v: f64| !(0.0..=1.0).contains(&v);
        let t = t.to_contiguous();
        match t.dtype() {
            DType::F32 => first_bad(t.storage::<f32>(), |v| bad(f64::from(v))).map(f64::from),
            DType::F64 => first_bad(t.storage::<f64>(), bad),
            _ => t.clone().into_data().iter::<f64>().find(|&v| bad(v)),
        }
    }
    /// The first `v` with `bad(v)`: blocks are checked whole (a loop without an early exit
    /// vectorises, `find` one element at a time does not), and only a block with a bad
    /// value is searched.
    fn first_bad<T: Copy>(values: &[T], bad: impl Fn(T) -> bool) -> Option<T> {
        let block = values
            .chunks(1024)
            .find(|b| b.iter().fold(false, |any, &v| any | bad(v)))?;
        block.iter().copied().find(|&v| bad(v))
    }
    flex_primitive(tensor).map(|p| scan(&p))
}
