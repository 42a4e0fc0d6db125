"""Reference (numpy) implementation of the radial basis and the core term, used by the
tests to check the C core. Same definitions as csrc/radial.c:

    t(r) = (1 + r/s)^-p,  x = 2 (t - t(r_cut)) / (t(r_in) - t(r_cut)) - 1
    R_n(r) = P_{n-1}(x) (1 - x^2)^3  for r_in < r < r_cut, else 0     (n = 1..N)
    V_core(r) = ZBL(r) * S(r), S = 1 below r_in, 0 above r_core, C2 quintic in between
"""
import numpy as np
from numpy.polynomial import legendre

ZBL_C = (0.18175, 0.50986, 0.28022, 0.02817)
ZBL_D = (3.19980, 0.94229, 0.40290, 0.20162)
COULOMB_EV_A = 14.399645478425668


def radial_basis(r, n_radial, r_in, r_cut, r_scale, power):
    """R [len(r), n_radial] for distances r (A)."""
    r = np.atleast_1d(np.asarray(r, dtype=float))
    t = (1 + r / r_scale) ** -power
    t_in, t_cut = (1 + r_in / r_scale) ** -power, (1 + r_cut / r_scale) ** -power
    x = 2 * (t - t_cut) / (t_in - t_cut) - 1
    env = (1 - x * x) ** 3
    P = np.stack([legendre.legval(x, np.eye(n_radial)[n]) for n in range(n_radial)], axis=1)
    inside = (r > r_in) & (r < r_cut)
    return np.where(inside[:, None], P * env[:, None], 0.0)


def zbl_core(r, z1, z2, r_in, r_core):
    """Switched ZBL pair energy (eV) at distances r (A)."""
    r = np.atleast_1d(np.asarray(r, dtype=float))
    a = 0.46850 / (z1 ** 0.23 + z2 ** 0.23)
    phi = COULOMB_EV_A * z1 * z2 / r * sum(c * np.exp(-d * r / a) for c, d in zip(ZBL_C, ZBL_D))
    y = np.clip((r - r_in) / (r_core - r_in), 0, 1)
    s = 1 - y ** 3 * (10 - 15 * y + 6 * y * y)
    return np.where(r < r_core, phi * s, 0.0)
