"""Real spherical harmonics as exact sympy polynomials of a unit vector (x, y, z).

Convention (used consistently by the C kernel, the couplings and the tests):
    Y_l0   = N_l0 P_l(z)
    Y_lm   = sqrt(2) N_lm  d^m P_l/dz^m (z) Re (x + i y)^m     (m > 0)
    Y_l,-m = sqrt(2) N_lm  d^m P_l/dz^m (z) Im (x + i y)^m     (m > 0)
    N_lm   = sqrt((2l+1)/(4 pi) (l-m)!/(l+m)!)
No Condon-Shortley phase. The functions are orthonormal on the unit sphere.
"""
from functools import lru_cache

import numpy as np
import sympy as sp

X, Y, Z = sp.symbols("x y z", real=True)


@lru_cache(maxsize=None)
def real_ylm_expr(l: int, m: int) -> sp.Expr:
    """Exact polynomial in (x, y, z) equal to Y_lm on the unit sphere."""
    if abs(m) > l:
        raise ValueError(f"|m| > l for l={l}, m={m}")
    t = sp.Symbol("t")
    am = abs(m)
    dpl = sp.diff(sp.legendre(l, t), t, am).subs(t, Z)
    norm = sp.sqrt(sp.Rational(2 * l + 1, 4) / sp.pi * sp.factorial(l - am) / sp.factorial(l + am))
    if m == 0:
        return sp.expand(norm * dpl)
    c = sp.expand((X + sp.I * Y) ** am)
    ang = sp.re(c) if m > 0 else sp.im(c)
    return sp.expand(sp.sqrt(2) * norm * dpl * ang)


def lm_index(l: int, m: int) -> int:
    """Position of (l, m) in the flat array [l*l + l + m]."""
    return l * l + l + m


@lru_cache(maxsize=None)
def _lambdified(lmax: int):
    exprs = [real_ylm_expr(l, m) for l in range(lmax + 1) for m in range(-l, l + 1)]
    return sp.lambdify((X, Y, Z), exprs, "numpy")


def real_ylm_numpy(lmax: int, u_nc: np.ndarray) -> np.ndarray:
    """Reference (slow) evaluation on unit vectors u_nc [n, 3]; returns [n, (lmax+1)^2]."""
    u_nc = np.atleast_2d(np.asarray(u_nc, dtype=float))
    vals = _lambdified(lmax)(u_nc[:, 0], u_nc[:, 1], u_nc[:, 2])
    return np.stack([np.broadcast_to(v, (len(u_nc),)) for v in vals], axis=1)
