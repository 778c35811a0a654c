//! What the vector unit offers: fused multiply-add markers, a macro that compiles a kernel
//! once per instruction set and picks one at run time, and (per architecture) prefetches
//! and non-temporal stores.

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub(crate) use x86_64::{prefetch, stream_fence, stream_lines};

#[cfg(not(target_arch = "x86_64"))]
mod fallback;
#[cfg(not(target_arch = "x86_64"))]
pub(crate) use fallback::{prefetch, stream_fence, stream_lines};

use super::math::Real;

/// Whether the code around runs on a vector unit with fused multiply-add (AVX2, AVX-512,
/// Arm): there `a * b + c` in the polynomials is one instruction and one rounding; without
/// it, `mul_add` would be a library call per element, so the steps stay apart.
pub(crate) trait Fma: Copy {
    const ON: bool;

    #[inline(always)]
    fn mul_add<T: Real>(self, a: T, b: T, c: T) -> T {
        if Self::ON { a.mul_add(b, c) } else { a * b + c }
    }
}

/// Fused multiply-add is there.
#[derive(Clone, Copy)]
pub(crate) struct Fused;

/// Multiply and add stay two steps.
#[derive(Clone, Copy)]
pub(crate) struct Unfused;

impl Fma for Fused {
    const ON: bool = true;
}

impl Fma for Unfused {
    const ON: bool = false;
}

/// What the baseline build (no run-time choice) has.
#[cfg(any(target_arch = "aarch64", target_feature = "fma"))]
pub(crate) const BASELINE: Fused = Fused;
#[cfg(not(any(target_arch = "aarch64", target_feature = "fma")))]
pub(crate) const BASELINE: Unfused = Unfused;

/// Defines a kernel function whose body is compiled three times, for AVX-512, for AVX2 with
/// FMA and for the baseline, and runs the widest one the processor has (checked at run time):
/// the binary stays portable and still uses the vector unit it finds. The body's first
/// parameter (no type) is the [`Fma`] marker of the unit it is compiled for.
macro_rules! multiversion {
    ($(#[$doc:meta])* $vis:vis fn $name:ident[$($gen:tt)*]($fma:ident, $($arg:ident: $ty:ty),* $(,)?) -> $ret:ty $body:block) => {
        $(#[$doc])*
        $vis fn $name<$($gen)*>($($arg: $ty),*) -> $ret {
            #[inline(always)]
            fn body<F: $crate::fused::simd::Fma, $($gen)*>($fma: F, $($arg: $ty),*) -> $ret $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,fma")]
                unsafe fn avx512<$($gen)*>($($arg: $ty),*) -> $ret {
                    body($crate::fused::simd::Fused, $($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2<$($gen)*>($($arg: $ty),*) -> $ret {
                    body($crate::fused::simd::Fused, $($arg),*)
                }
                let fma = std::arch::is_x86_feature_detected!("fma");
                if fma && std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the features were detected at run time.
                    return unsafe { avx512($($arg),*) };
                }
                if fma && std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the features were detected at run time.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($crate::fused::simd::BASELINE, $($arg),*)
        }
    };
}
pub(crate) use multiversion;
