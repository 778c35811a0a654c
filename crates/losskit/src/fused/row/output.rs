//! How a row kernel's output row is written: a small [`RowOutput`] description computed
//! with the row's loss, written later (between the next row's exponential blocks) by a
//! [`RowWriter`], streamed to memory when the output is far larger than the caches.

use core::mem::MaybeUninit;

use crate::fused::math::Real;
use crate::fused::mem::assume_init;
use crate::fused::simd::stream_lines;

/// Fills `g` with `value`.
#[inline(always)]
fn fill<T: Real>(g: &mut [MaybeUninit<T>], value: T) {
    for gj in g {
        gj.write(value);
    }
}

/// Elements per block of [`RowWriter`]: a whole number of cache lines for f32 and f64.
const BLOCK: usize = 64;

/// Copies `src` into `dst` (64-byte aligned, same length, whole cache lines) with
/// non-temporal stores: the lines go to memory without first being read for ownership, and
/// without evicting the data the kernel still reads. [`stream_fence`](crate::fused::simd::stream_fence) orders them.
#[inline(always)]
fn stream_block<T: Real>(dst: &mut [MaybeUninit<T>], src: &[T]) {
    let bytes = core::mem::size_of_val(src);
    assert!(dst.len() == src.len() && bytes.is_multiple_of(64) && dst.as_ptr().align_offset(64) == 0);
    // SAFETY: both ranges hold `bytes` bytes, and the alignment and size are asserted above.
    unsafe { stream_lines(dst.as_mut_ptr().cast(), src.as_ptr().cast(), bytes) };
}

/// Writes one output row front to back, possibly over several calls: [`RowWriter::advance`]
/// writes up to a position, [`RowWriter::finish`] the rest, each element from a [`RowOutput`]
/// and the rows it reads. With `stream`, whole blocks are computed into a buffer in L1 and
/// sent to memory with non-temporal stores: a gradient far larger than the caches then
/// costs one write of each line instead of a read and a write. The caller calls
/// [`stream_fence`](crate::fused::simd::stream_fence) before the rows are handed on.
pub(crate) struct RowWriter<'a, T> {
    out: &'a mut [MaybeUninit<T>],
    stream: bool,
    /// Elements written so far.
    done: usize,
}

impl<'a, T: Real> RowWriter<'a, T> {
    pub(crate) fn new(out: &'a mut [MaybeUninit<T>], stream: bool) -> Self {
        Self { out, stream, done: 0 }
    }

    /// Writes the elements below `upto` (streamed: the whole blocks below it).
    #[inline(always)]
    pub(crate) fn advance(&mut self, upto: usize, output: &RowOutput<T>, data: RowData<'_, T>) {
        let end = upto.min(self.out.len());
        if end <= self.done {
            return;
        }
        if !self.stream {
            output.fill(data, self.done, &mut self.out[self.done..end]);
            self.done = end;
            return;
        }
        // Up to the first 64-byte boundary with plain stores.
        let head = self.out.as_ptr().align_offset(64).min(end);
        if self.done < head {
            output.fill(data, self.done, &mut self.out[self.done..head]);
            self.done = head;
        }
        let mut buf = [MaybeUninit::<T>::uninit(); BLOCK];
        while self.done + BLOCK <= end {
            let j = self.done;
            output.fill(data, j, &mut buf);
            // SAFETY: `fill` wrote every element of the block.
            stream_block(&mut self.out[j..j + BLOCK], unsafe { assume_init(&mut buf) });
            self.done = j + BLOCK;
        }
    }

    /// Writes the rest of the row.
    #[inline(always)]
    pub(crate) fn finish(&mut self, output: &RowOutput<T>, data: RowData<'_, T>) {
        let n = self.out.len();
        self.advance(n, output, data);
        if self.done < n {
            output.fill(data, self.done, &mut self.out[self.done..]);
            self.done = n;
        }
    }
}

/// `delta` taken off element `class` of a row: the `- a_y` of a class-index gradient.
#[derive(Clone, Copy)]
pub(crate) struct TargetShift<T> {
    pub class: usize,
    pub delta: T,
}

impl<T: Real> TargetShift<T> {
    /// Subtracts `delta` from element `class` if it lies in the block starting at `j0`.
    #[inline(always)]
    fn apply(self, block: &mut [MaybeUninit<T>], j0: usize) {
        if let Some(b) = self.class.checked_sub(j0).and_then(|k| block.get_mut(k)) {
            // SAFETY: the block was written just before.
            let v = unsafe { b.assume_init() };
            b.write(v - self.delta);
        }
    }
}

/// What a row writes into its output row, from the values its loss computed: the
/// description is small, so the writing can wait until the next row is under way.
#[derive(Clone, Copy)]
pub(crate) enum RowOutput<T> {
    /// Every element `value` (an ignored row's 0, a NaN row's NaN), less `delta` at `target`.
    Fill { value: T, target: Option<TargetShift<T>> },
    /// `e_j scale - shift w_j` (`- shift` unless `weighted`), less `delta` at `target`.
    Softmax {
        scale: T,
        shift: T,
        weighted: bool,
        target: Option<TargetShift<T>>,
    },
    /// [`RowOutput::Softmax`] through a soft cap: the scratch row holds the capped logits
    /// `s`, and element `j` is `(e^(s_j - max) scale - shift w_j) (1 - s_j^2 inv_cap2)`, less
    /// `delta` (already through the cap) at `target`.
    Capped {
        scale: T,
        shift: T,
        weighted: bool,
        max: T,
        inv_cap2: T,
        target: TargetShift<T>,
    },
    /// `e_j scale - gs w_j (keep t_j + smooth)` for the probability row `t`.
    Probabilities { scale: T, gs: T, keep: T, smooth: T },
    /// `(x_j - max) - log_sum`: the log-softmax.
    Shifted { max: T, log_sum: T },
    /// `y_j (g_j - dot)`: softmax's backward, `y` the input row and `g` the other row.
    SoftmaxGrad { dot: T },
    /// `g_j - e^(y_j) total`: log-softmax's backward.
    LogSoftmaxGrad { total: T },
}

/// The rows a [`RowOutput`] reads.
#[derive(Clone, Copy)]
pub(crate) struct RowData<'a, T> {
    /// The row's exponentials (the scratch row; the capped logits of [`RowOutput::Capped`]).
    pub e: &'a [T],
    /// The input row.
    pub x: &'a [T],
    /// The probability row, or the upstream gradient row of a softmax backward.
    pub other: &'a [T],
    /// The class weights.
    pub weights: Option<&'a [T]>,
}

impl<T: Real> RowOutput<T> {
    /// Writes the elements `j0..j0 + block.len()` of the row.
    #[inline(always)]
    pub(crate) fn fill(&self, d: RowData<'_, T>, j0: usize, block: &mut [MaybeUninit<T>]) {
        let r = j0..j0 + block.len();
        match *self {
            RowOutput::Fill { value, target } => {
                fill(block, value);
                if let Some(shift) = target {
                    shift.apply(block, j0);
                }
            }
            RowOutput::Softmax {
                scale,
                shift,
                weighted,
                target,
            } => {
                let e = &d.e[r.clone()];
                match d.weights {
                    Some(w) if weighted => {
                        for ((o, &ej), &wj) in block.iter_mut().zip(e).zip(&w[r]) {
                            o.write(ej * scale - shift * wj);
                        }
                    }
                    _ => {
                        for (o, &ej) in block.iter_mut().zip(e) {
                            o.write(ej * scale - shift);
                        }
                    }
                }
                if let Some(shift) = target {
                    shift.apply(block, j0);
                }
            }
            RowOutput::Capped {
                scale,
                shift,
                weighted,
                max,
                inv_cap2,
                target,
            } => {
                let s = &d.e[r.clone()];
                let through = |sj: T, g: T| g * (T::ONE - sj * sj * inv_cap2);
                match d.weights {
                    Some(w) if weighted => {
                        for ((o, &sj), &wj) in block.iter_mut().zip(s).zip(&w[r]) {
                            o.write(through(sj, (sj - max).exp() * scale - shift * wj));
                        }
                    }
                    _ => {
                        for (o, &sj) in block.iter_mut().zip(s) {
                            o.write(through(sj, (sj - max).exp() * scale - shift));
                        }
                    }
                }
                target.apply(block, j0);
            }
            RowOutput::Probabilities {
                scale,
                gs,
                keep,
                smooth,
            } => {
                let (e, t) = (&d.e[r.clone()], &d.other[r.clone()]);
                match d.weights {
                    Some(w) => {
                        for (((o, &ej), &tj), &wj) in block.iter_mut().zip(e).zip(t).zip(&w[r]) {
                            o.write(ej * scale - gs * wj * (keep * tj + smooth));
                        }
                    }
                    None => {
                        for ((o, &ej), &tj) in block.iter_mut().zip(e).zip(t) {
                            o.write(ej * scale - gs * (keep * tj + smooth));
                        }
                    }
                }
            }
            RowOutput::Shifted { max, log_sum } => {
                for (o, &v) in block.iter_mut().zip(&d.x[r]) {
                    o.write((v - max) - log_sum);
                }
            }
            RowOutput::SoftmaxGrad { dot } => {
                for ((o, &y), &g) in block.iter_mut().zip(&d.x[r.clone()]).zip(&d.other[r]) {
                    o.write(y * (g - dot));
                }
            }
            RowOutput::LogSoftmaxGrad { total } => {
                for ((o, &y), &g) in block.iter_mut().zip(&d.x[r.clone()]).zip(&d.other[r]) {
                    o.write(g - y.exp() * total);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::simd::stream_fence;

    #[test]
    fn streamed_rows_equal_cached_rows_at_every_length_alignment_and_step() {
        for len in [0usize, 1, 3, 4, 15, 16, 63, 64, 65, 127, 128, 200, 1000] {
            let x: Vec<f32> = (0..len).map(|j| j as f32 * 0.5 - 3.0).collect();
            // `(x_j - 0) - 0`: the row itself.
            let output = RowOutput::Shifted { max: 0.0, log_sum: 0.0 };
            let data = RowData {
                e: &[],
                x: &x,
                other: &[],
                weights: None,
            };
            for offset in 0..4 {
                for step in [1, 64, 100, len.max(1)] {
                    let mut streamed = vec![MaybeUninit::new(f32::NAN); len + offset];
                    let mut writer = RowWriter::new(&mut streamed[offset..], true);
                    for upto in (0..len).step_by(step) {
                        writer.advance(upto, &output, data);
                    }
                    writer.finish(&output, data);
                    stream_fence();
                    // SAFETY: initialised above.
                    let streamed = unsafe { assume_init(&mut streamed[offset..]) };
                    assert_eq!(streamed, x.as_slice(), "length {len}, offset {offset}, step {step}");
                }
            }
        }
    }
}
