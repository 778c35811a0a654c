//! Matrix products into buffers the caller owns, through the `gemm` crate (burn-flex's own
//! matrix multiplication, which only writes fresh outputs): the fused linear cross entropy
//! writes each chunk's logits into one reused buffer and accumulates the classifier's
//! gradient in place.

use super::math::Real;

/// A matrix read from a slice: element `(i, j)` at `i * row_stride + j * col_stride`.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a, T> MatRef<'a, T> {
    /// The row-major `(rows, cols)` matrix in the first `rows * cols` elements of `data`.
    pub(crate) fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        assert!(data.len() >= rows * cols, "a ({rows}, {cols}) matrix needs {} values, found {}", rows * cols, data.len());
        Self { data, rows, cols, row_stride: cols, col_stride: 1 }
    }

    /// The transpose, reading the same elements.
    pub(crate) fn t(self) -> Self {
        Self { rows: self.cols, cols: self.rows, row_stride: self.col_stride, col_stride: self.row_stride, ..self }
    }
}

/// Whether `dst` is overwritten or added to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Write {
    Overwrite,
    Accumulate,
}

/// Products below this many multiply-adds run on one thread (burn-flex's threshold): the
/// hand-off to rayon costs more than they do.
const PARALLEL_WORK: usize = 192 * 192 * 192;

/// `dst = lhs @ rhs` ([`Write::Overwrite`]) or `dst += lhs @ rhs`, with `dst` the row-major
/// `(lhs.rows, rhs.cols)` matrix in the first elements of its slice; f32 or f64.
pub(crate) fn matmul<T: Real>(dst: &mut [T], write: Write, lhs: MatRef<'_, T>, rhs: MatRef<'_, T>) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(rhs.rows, k, "matmul of ({m}, {k}) and ({}, {n})", rhs.rows);
    assert!(dst.len() >= m * n, "a ({m}, {n}) product needs {} values, found {}", m * n, dst.len());
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if write == Write::Overwrite {
            dst[..m * n].fill(T::ZERO);
        }
        return;
    }
    for operand in [&lhs, &rhs] {
        let last = (operand.rows - 1) * operand.row_stride + (operand.cols - 1) * operand.col_stride;
        assert!(last < operand.data.len(), "a matrix view reads past its slice");
    }
    let parallelism = if m * n * k >= PARALLEL_WORK {
        gemm::Parallelism::Rayon(rayon::current_num_threads())
    } else {
        gemm::Parallelism::None
    };
    let accumulate = write == Write::Accumulate;
    // SAFETY: every element the views address lies inside their slices (checked above), `dst`
    // holds the whole `(m, n)` row-major product, and `T` is f32 or f64 (the kernels' `Real`
    // types), which `gemm` takes. With `read_dst` false `gemm` ignores `alpha` and never reads
    // `dst`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_and_transposes_match_the_definition() {
        let a: Vec<f64> = (0..6).map(f64::from).collect(); // (2, 3)
        let b: Vec<f64> = (0..12).map(|v| f64::from(v) * 0.5 - 2.0).collect(); // (4, 3)
        let mut c = vec![1.0; 8];
        // (2, 3) @ (3, 4): a @ b^T
        matmul(&mut c, Write::Overwrite, MatRef::row_major(&a, 2, 3), MatRef::row_major(&b, 4, 3).t());
        for i in 0..2 {
            for j in 0..4 {
                let want: f64 = (0..3).map(|k| a[i * 3 + k] * b[j * 3 + k]).sum();
                assert_eq!(c[i * 4 + j], want);
            }
        }
        let before = c.clone();
        // (4, 2) @ (2, 3) added to a (4, 3) matrix: c^T @ a
        let mut d = vec![1.0; 12];
        matmul(&mut d, Write::Accumulate, MatRef::row_major(&before, 2, 4).t(), MatRef::row_major(&a, 2, 3));
        for j in 0..4 {
            for k in 0..3 {
                let want: f64 = 1.0 + (0..2).map(|i| before[i * 4 + j] * a[i * 3 + k]).sum::<f64>();
                assert_eq!(d[j * 3 + k], want);
            }
        }
        let mut e = vec![5.0f32; 4];
        matmul(&mut e, Write::Overwrite, MatRef::row_major(&[] as &[f32], 2, 0), MatRef::row_major(&[] as &[f32], 0, 2));
        assert_eq!(e, [0.0; 4]);
    }
}
