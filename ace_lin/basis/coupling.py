"""Rotation-invariant couplings of nu real spherical harmonics.

For an l-tuple (l_1..l_nu) the complex invariants are the generalized Clebsch-Gordan
contractions along the coupling tree l_1 (x) l_2 -> L_1, L_1 (x) l_3 -> L_2, ..., -> 0,
one per admissible (L_1 .. L_{nu-2}). They are transformed to the real harmonics of
ace_lin.basis.ylm, split into real and imaginary parts, symmetrized over permutations
of identical one-particle functions (the product of A's is symmetric there), and then
reduced to a linearly independent, orthonormal set by an SVD: singular values below
RANK_TOL * (largest) are dropped. The CG coefficients are exact (sympy); only this
rank reduction is numerical.
"""
import itertools
from functools import lru_cache
from typing import Tuple

import numpy as np

from ace_lin.basis.clebsch import block

RANK_TOL = 1e-10


@lru_cache(maxsize=None)
def complex_from_real(l: int) -> np.ndarray:
    """W[m + l, mu + l] with Y^complex_{l m} = sum_mu W Y^real_{l mu} (Condon-Shortley
    complex harmonics, as assumed by the Clebsch-Gordan coefficients)."""
    W = np.zeros((2 * l + 1, 2 * l + 1), dtype=complex)
    W[l, l] = 1.0
    s = 1.0 / np.sqrt(2.0)
    for m in range(1, l + 1):
        sign = (-1.0) ** m
        W[l + m, l + m] = sign * s
        W[l + m, l - m] = sign * s * 1j
        W[l - m, l + m] = s
        W[l - m, l - m] = -s * 1j
    return W


def _cg3(j1: int, j2: int, J: int) -> np.ndarray:
    """CG as a dense 3-index tensor T[m1, m2, M]."""
    b = block(j1, j2, J)
    T = np.zeros((2 * j1 + 1, 2 * j2 + 1, 2 * J + 1))
    for i1 in range(2 * j1 + 1):
        for i2 in range(2 * j2 + 1):
            M = (i1 - j1) + (i2 - j2)
            if abs(M) <= J:
                T[i1, i2, M + J] = b[i1, i2]
    return T


def _paths(ls: Tuple[int, ...]):
    """Intermediate couplings (L_1 .. L_{nu-2}) that end in total L = 0."""
    nu = len(ls)
    if nu == 1:
        return [()] if ls[0] == 0 else []
    if nu == 2:
        return [()] if ls[0] == ls[1] else []
    out = []

    def rec(prev, k, acc):
        if k == nu - 1:  # last factor must couple prev to 0
            if prev == ls[-1]:
                out.append(tuple(acc))
            return
        rest = sum(ls[k + 1:])
        for L in range(abs(prev - ls[k]), prev + ls[k] + 1):
            if L <= rest:
                rec(L, k + 1, acc + [L])

    rec(ls[0], 1, [])
    return out


def _complex_tensor(ls, path) -> np.ndarray:
    nu = len(ls)
    if nu == 1:
        return np.ones(1, dtype=float)
    if nu == 2:
        return _cg3(ls[0], ls[1], 0)[:, :, 0]
    T = _cg3(ls[0], ls[1], path[0])
    for k in range(2, nu - 1):
        G = _cg3(path[k - 2], ls[k], path[k - 1])
        T = np.tensordot(T, G, axes=([T.ndim - 1], [0]))
    G = _cg3(path[-1], ls[-1], 0)[:, :, 0]
    return np.tensordot(T, G, axes=([T.ndim - 1], [0]))


def _to_real(C: np.ndarray, ls) -> np.ndarray:
    out = C.astype(complex)
    for k, l in enumerate(ls):
        # contract axis k with W_l (m -> mu) and move the new axis back to position k
        out = np.moveaxis(np.tensordot(out, complex_from_real(l), axes=([k], [0])), -1, k)
    return out


def _symmetrize(T: np.ndarray, groups: Tuple[int, ...]) -> np.ndarray:
    """Average over the permutations of axes that carry identical one-particle labels."""
    blocks = {}
    for axis, g in enumerate(groups):
        blocks.setdefault(g, []).append(axis)
    perms_per_group = [list(itertools.permutations(axes)) for axes in blocks.values()]
    acc = np.zeros_like(T)
    count = 0
    for choice in itertools.product(*perms_per_group):
        perm = list(range(T.ndim))
        for axes, p in zip(blocks.values(), choice):
            for a, b in zip(axes, p):
                perm[a] = b
        acc += np.transpose(T, perm)
        count += 1
    return acc / count


@lru_cache(maxsize=None)
def invariant_couplings(ls: Tuple[int, ...], groups: Tuple[int, ...]) -> np.ndarray:
    """Independent real coupling tensors for the l-tuple ls, symmetric over groups.

    groups[k] labels factor k; equal labels mean identical one-particle functions
    (same species, n and l). Returns an array [n_invariants, 2l_1+1, ..., 2l_nu+1]
    of orthonormal (as flat vectors) tensors; n_invariants may be 0.
    """
    if sum(ls) % 2:  # odd parity: changes sign under reflection, not an invariant
        return np.zeros((0,) + tuple(2 * l + 1 for l in ls))
    shape = tuple(2 * l + 1 for l in ls)
    cands = []
    for path in _paths(ls):
        R = _symmetrize(_to_real(_complex_tensor(ls, path), ls), groups)
        cands += [R.real.ravel(), R.imag.ravel()]
    if not cands:
        return np.zeros((0,) + shape)
    M = np.array(cands)
    _, s, vt = np.linalg.svd(M, full_matrices=False)
    if s.size == 0 or s[0] < 1e-12:
        return np.zeros((0,) + shape)
    rank = int(np.sum(s > RANK_TOL * s[0]))
    V = vt[:rank].copy()
    V[np.abs(V) < 1e-14] = 0.0
    for row in V:  # deterministic sign: the largest entry (first on ties) is positive
        k = int(np.argmax(np.abs(row) > np.abs(row).max() * (1 - 1e-9)))
        if row[k] < 0:
            row *= -1
    return V.reshape((rank,) + shape)
