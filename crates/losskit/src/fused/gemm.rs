//! Matrix products into buffers the caller owns, through the `gemm` crate (burn-flex's own
//! matrix multiplication, which only writes fresh outputs): the fused linear cross entropy
//! writes each chunk's logits into one reused buffer and accumulates the classifier's
//! gradient in place.

use core::marker::PhantomData;
use core::mem::MaybeUninit;

use rayon::prelude::*;

use super::math::Real;

/// Panics unless `len` values hold a row-major `(rows, cols)` matrix.
#[track_caller]
fn check_fits(len: usize, rows: usize, cols: usize) {
    assert!(
        rows.checked_mul(cols).is_some_and(|needed| needed <= len),
        "a ({rows}, {cols}) matrix needs more than the {len} values found"
    );
}

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
    #[track_caller]
    pub(crate) fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        check_fits(data.len(), rows, cols);
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose, reading the same elements.
    pub(crate) fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    /// The `count` rows (or columns) from `first` on.
    fn part(self, side: Side, first: usize, count: usize) -> Self {
        match side {
            Side::Rows => Self {
                data: &self.data[first * self.row_stride..],
                rows: count,
                ..self
            },
            Side::Columns => Self {
                data: &self.data[first * self.col_stride..],
                cols: count,
                ..self
            },
        }
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn cols(&self) -> usize {
        self.cols
    }
}

/// A row-major matrix written through: the first `rows * cols` elements of a slice, or a
/// block of its rows or columns ([`MatMut::blocks`]), which
/// is why it holds a pointer. Every view keeps its matrix's row stride, so the blocks of one
/// matrix address disjoint elements.
pub(crate) struct MatMut<'a, T> {
    ptr: *mut T,
    rows: usize,
    cols: usize,
    row_stride: usize,
    _data: PhantomData<&'a mut [T]>,
}

// SAFETY: a view is the only way to its elements while it lives (it was split from one
// `&mut` borrow, and views of one matrix address disjoint elements), as a `&mut [T]` is.
unsafe impl<T: Send> Send for MatMut<'_, T> {}

impl<'a, T> MatMut<'a, T> {
    #[track_caller]
    pub(crate) fn row_major(data: &'a mut [T], rows: usize, cols: usize) -> Self {
        Self::with_row_stride(data, rows, cols, cols)
    }

    /// The `(rows, cols)` matrix whose row `i` is the `cols` elements from `i * row_stride`
    /// on, in the first `rows * row_stride` elements of `data`: the first columns of a wider
    /// row-major matrix.
    #[track_caller]
    pub(crate) fn with_row_stride(data: &'a mut [T], rows: usize, cols: usize, row_stride: usize) -> Self {
        assert!(row_stride >= cols, "rows of {cols} values {row_stride} apart overlap");
        check_fits(data.len(), rows, row_stride);
        Self {
            ptr: data.as_mut_ptr(),
            rows,
            cols,
            row_stride,
            _data: PhantomData,
        }
    }

    /// The row-major `(rows, cols)` matrix in the first `rows * cols` elements of `data`,
    /// not yet written.
    ///
    /// # Safety
    /// The view (and every block of it) may only be the destination of [`Write::Overwrite`]
    /// products, which never read it (`gemm` with `read_dst` false) and write every element.
    pub(crate) unsafe fn uninit(data: &'a mut [MaybeUninit<T>], rows: usize, cols: usize) -> Self {
        check_fits(data.len(), rows, cols);
        Self {
            ptr: data.as_mut_ptr().cast(),
            rows,
            cols,
            row_stride: cols,
            _data: PhantomData,
        }
    }

    /// The matrix as views of `size` rows or columns each (the last smaller), in order.
    pub(crate) fn blocks(self, side: Side, size: usize) -> Vec<MatMut<'a, T>> {
        let size = size.max(1);
        let (len, step) = match side {
            Side::Rows => (self.rows, size * self.row_stride),
            Side::Columns => (self.cols, size),
        };
        // No element, no block: an offset into an empty buffer would be out of bounds.
        let blocks = if self.rows == 0 || self.cols == 0 {
            0
        } else {
            len.div_ceil(size)
        };
        (0..blocks)
            .map(|b| {
                let extent = size.min(len - b * size);
                let (rows, cols) = match side {
                    Side::Rows => (extent, self.cols),
                    Side::Columns => (self.rows, extent),
                };
                MatMut {
                    // SAFETY: row (or column) `b * size` is inside the matrix.
                    ptr: unsafe { self.ptr.add(b * step) },
                    rows,
                    cols,
                    row_stride: self.row_stride,
                    _data: PhantomData,
                }
            })
            .collect()
    }
}

/// Which side of a matrix [`MatMut::blocks`] and [`matmul_split`] cut along.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Rows,
    Columns,
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

/// One past the last element a non-empty view of `rows x cols` with these strides reads.
fn extent(rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> usize {
    (rows - 1) * row_stride + (cols - 1) * col_stride + 1
}

/// `dst = lhs @ rhs` ([`Write::Overwrite`]) or `dst += lhs @ rhs`; f32 or f64, over the
/// threads when large.
///
/// `gemm` packs its operands into buffers of its own, sized from the caches (which here can
/// mean a whole operand): callers that need a bound on memory split the product.
pub(crate) fn matmul<T: Real>(dst: MatMut<'_, T>, write: Write, lhs: MatRef<'_, T>, rhs: MatRef<'_, T>) {
    let work = lhs.rows * lhs.cols * rhs.cols;
    let threads = if work >= PARALLEL_WORK {
        rayon::current_num_threads()
    } else {
        1
    };
    product(dst, write, lhs, rhs, threads);
}

/// [`matmul`] on the calling thread alone (for products that are themselves one of many
/// run over the threads).
pub(crate) fn matmul_on_this_thread<T: Real>(dst: MatMut<'_, T>, write: Write, lhs: MatRef<'_, T>, rhs: MatRef<'_, T>) {
    product(dst, write, lhs, rhs, 1);
}

/// [`matmul`] for the short products of a small network's layers (a batch of rows against
/// a layer's weight, or its transpose against the rows' gradient): `dst` split along its
/// longer side into one block per thread, each block a product of its own on its thread.
/// The `gemm` crate splits such products itself in a way that makes two threads slower
/// than one (docs/performance.md); a block per thread keeps each product long and each
/// thread's share of the operand it splits its own.
pub(crate) fn matmul_split<T: Real>(dst: MatMut<'_, T>, write: Write, lhs: MatRef<'_, T>, rhs: MatRef<'_, T>) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    let threads = rayon::current_num_threads();
    if m * k * n < SPLIT_WORK || threads == 1 || m.max(n) < 2 * BLOCK_ALIGN {
        return product(dst, write, lhs, rhs, 1);
    }
    // Blocks a multiple of a vector's width, so that no block ends mid-register.
    let width = m.max(n).div_ceil(threads).next_multiple_of(BLOCK_ALIGN);
    let side = if m > n { Side::Rows } else { Side::Columns };
    dst.blocks(side, width)
        .into_par_iter()
        .enumerate()
        .for_each(|(b, block)| {
            // A block of rows is those rows of `lhs` against all of `rhs`; a block of
            // columns, all of `lhs` against those columns of `rhs`.
            let (lhs, rhs) = match side {
                Side::Rows => (lhs.part(side, b * width, block.rows), rhs),
                Side::Columns => (lhs, rhs.part(side, b * width, block.cols)),
            };
            product(block, write, lhs, rhs, 1);
        });
}

/// Below this many multiply-adds [`matmul_split`] stays on one thread: waking the other
/// threads costs about what such a product does (the tutorial's output layer, 64 x 500 x
/// 10, ran faster on one).
const SPLIT_WORK: usize = 128 * 128 * 128;

/// The blocks of [`matmul_split`] are multiples of this many rows or columns (an AVX-512
/// register of f32).
const BLOCK_ALIGN: usize = 16;

fn product<T: Real>(dst: MatMut<'_, T>, write: Write, lhs: MatRef<'_, T>, rhs: MatRef<'_, T>, threads: usize) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(rhs.rows, k, "matmul of ({m}, {k}) and ({}, {n})", rhs.rows);
    assert_eq!(
        (dst.rows, dst.cols),
        (m, n),
        "a ({m}, {n}) product into a ({}, {}) matrix",
        dst.rows,
        dst.cols
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if write == Write::Overwrite {
            for i in 0..m {
                for j in 0..n {
                    // SAFETY: element `(i, j)` belongs to the view; written, not read (it
                    // may not be initialised yet).
                    unsafe { dst.ptr.add(i * dst.row_stride + j).write(T::ZERO) };
                }
            }
        }
        return;
    }
    for operand in [&lhs, &rhs] {
        assert!(
            extent(operand.rows, operand.cols, operand.row_stride, operand.col_stride) <= operand.data.len(),
            "a matrix view reads past its slice"
        );
    }
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    let accumulate = write == Write::Accumulate;
    // SAFETY: every element the views address lies inside their slices (checked above, and
    // for `dst` by its constructors), and `T` is f32 or f64 (the kernels' `Real` types), which
    // `gemm` takes. With `read_dst` false `gemm` ignores `alpha` and never reads `dst`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.ptr,
            1,
            dst.row_stride as isize,
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
        matmul(
            MatMut::row_major(&mut c, 2, 4),
            Write::Overwrite,
            MatRef::row_major(&a, 2, 3),
            MatRef::row_major(&b, 4, 3).t(),
        );
        // A block of columns of a wider matrix, read with its row stride.
        let mut block = vec![0.0; 4];
        // rows 0-1, columns 1-2 of b (4, 3)
        let wide = MatRef::row_major(&b, 4, 3)
            .part(Side::Rows, 0, 2)
            .part(Side::Columns, 1, 2);
        matmul_on_this_thread(
            MatMut::row_major(&mut block, 2, 2),
            Write::Overwrite,
            wide,
            MatRef::row_major(&[1.0, 0.0, 0.0, 1.0], 2, 2),
        );
        assert_eq!(block, [b[1], b[2], b[4], b[5]]);
        for i in 0..2 {
            for j in 0..4 {
                let want: f64 = (0..3).map(|k| a[i * 3 + k] * b[j * 3 + k]).sum();
                assert_eq!(c[i * 4 + j], want);
            }
        }
        let before = c.clone();
        // (4, 2) @ (2, 3) added to a (4, 3) matrix: c^T @ a
        let mut d = vec![1.0; 12];
        matmul(
            MatMut::row_major(&mut d, 4, 3),
            Write::Accumulate,
            MatRef::row_major(&before, 2, 4).t(),
            MatRef::row_major(&a, 2, 3),
        );
        for j in 0..4 {
            for k in 0..3 {
                let want: f64 = 1.0 + (0..2).map(|i| before[i * 4 + j] * a[i * 3 + k]).sum::<f64>();
                assert_eq!(d[j * 3 + k], want);
            }
        }
        let mut e = vec![5.0f32; 4];
        matmul(
            MatMut::row_major(&mut e, 2, 2),
            Write::Overwrite,
            MatRef::row_major(&[] as &[f32], 2, 0),
            MatRef::row_major(&[] as &[f32], 0, 2),
        );
        assert_eq!(e, [0.0; 4]);
        // Into the first two columns of a (2, 3) matrix: the third is neither read nor
        // written.
        let mut wide = [1.0, 1.0, f64::NAN, 1.0, 1.0, f64::NAN];
        matmul(
            MatMut::with_row_stride(&mut wide, 2, 2, 3),
            Write::Accumulate,
            MatRef::row_major(&a, 2, 3),
            MatRef::row_major(&b, 2, 3).t(),
        );
        for i in 0..2 {
            for j in 0..2 {
                let want: f64 = 1.0 + (0..3).map(|k| a[i * 3 + k] * b[j * 3 + k]).sum::<f64>();
                assert_eq!(wide[i * 3 + j], want);
            }
            assert!(wide[i * 3 + 2].is_nan());
        }
    }
}
