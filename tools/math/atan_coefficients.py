"""The coefficients of losskit's vectorised f64 arctangent (crates/losskit/src/fused/atan.rs).

After the reduction to |u| <= tan(pi/8), atan(u) = u + u s Q(s) with s = u^2; Q is the
Chebyshev interpolant of (atan(sqrt(s)) / sqrt(s) - 1) / s on [0, tan(pi/8)^2], computed in
60-digit arithmetic and rounded to f64. Prints, for each degree, the largest error of the
whole reduced evaluation (in f64 without fused multiply-adds, as the baseline build runs it)
in ulps of the exact result over a sample of a grid (every 13th point), and the Rust table
of the degree chosen.

    python3 tools/math/atan_coefficients.py
"""

import mpmath as mp
import numpy as np

mp.mp.dps = 60
S_MAX = mp.tan(mp.pi / 8) ** 2


def q_exact(s):
    if s == 0:
        return mp.mpf(-1) / 3
    r = mp.sqrt(s)
    return (mp.atan(r) / r - 1) / s


def chebyshev_monomial(degree):
    """Monomial coefficients (lowest first) of the interpolant at Chebyshev nodes."""
    n = degree + 1
    nodes = [S_MAX / 2 * (1 + mp.cos(mp.pi * (k + mp.mpf(1) / 2) / n)) for k in range(n)]
    values = [q_exact(s) for s in nodes]
    # Solve the Vandermonde system in high precision (small degrees: well within 60 digits).
    a = mp.matrix([[s**j for j in range(n)] for s in nodes])
    return list(mp.lu_solve(a, mp.matrix(values)))


def atan_f64(x, coefficients):
    """The Rust evaluation, step by step in f64 (no FMA: the baseline build's rounding)."""
    a = np.abs(x)
    inverted = a > 1.0
    t = np.where(inverted, 1.0 / np.where(a == 0, 1.0, a), a)
    shifted = t > 0.41421356237309503
    u = np.where(shifted, (t - 1.0) / (t + 1.0), t)
    s = u * u
    q = np.full_like(s, coefficients[-1])
    for c in coefficients[-2::-1]:
        q = q * s + c
    r = u + u * s * q
    quarter_hi, quarter_lo = np.float64(mp.pi / 4), np.float64(mp.pi / 4 - mp.mpf(np.float64(mp.pi / 4)))
    r = np.where(shifted, quarter_hi + (r + quarter_lo), r)
    half_hi, half_lo = 2 * quarter_hi, 2 * quarter_lo
    r = np.where(inverted, half_hi + (half_lo - r), r)
    return np.copysign(r, x)


def max_ulps(coefficients, step=13):
    grid = np.concatenate([np.geomspace(1e-8, 1e8, 400_001), np.linspace(0.3, 3.0, 200_001)])
    got = atan_f64(grid, coefficients)
    worst = 0.0
    for x, y in zip(grid[::step], got[::step]):
        exact = mp.atan(mp.mpf(float(x)))
        ulp = np.spacing(np.float64(exact))
        worst = max(worst, float(abs(mp.mpf(float(y)) - exact) / ulp))
    return worst


if __name__ == "__main__":
    for degree in range(8, 13):
        coefficients = [float(c) for c in chebyshev_monomial(degree)]
        print(f"degree {degree}: max error {max_ulps(coefficients):.2f} ulp")
    # The lowest degree at the reductions' own error (a larger one gains nothing).
    chosen = 10
    coefficients = [float(c) for c in chebyshev_monomial(chosen)]
    print(f"\n/// Q(s), highest coefficient first (degree {chosen}).")
    print(f"const ATAN_POLY: [f64; {chosen + 1}] = [")
    for c in reversed(coefficients):
        print(f"    {c!r},")
    print("];")
