"""Products of one-particle functions: which label tuples a degree admits, and the
rotation-invariant couplings of each (shared by the species-resolved and the contracted
basis builders, basis/tables.py and basis/contracted.py).

A label is (z, n, l): block z (neighbour species, or 0 for contracted channels), radial
index or channel n >= 1, angular momentum l; its degree is n + w_l * l.
"""
from functools import lru_cache
from math import factorial
from typing import Tuple

import numpy as np

from ace_lin.basis.coupling import invariant_couplings
from ace_lin.basis.limits import NU_MAX


def labels(ns: int, n_radial: int, lmax: int, w_l: float, dmax: float):
    """One-particle labels (z, n, l) of one channel (n counted within it), sorted."""
    out = []
    for z in range(ns):
        for n in range(1, n_radial + 1):
            for l in range(0, lmax + 1):
                if n + w_l * l <= dmax + 1e-9:
                    out.append((z, n, l))
    return out


def multisets(labels, nu, dmax, w_l):
    """Sorted nu-tuples of label indices with total degree <= dmax."""
    deg = [n + w_l * l for (_, n, l) in labels]
    dmin = min(deg) if deg else 0.0
    res = []

    def rec(start, left, acc, total):
        if left == 0:
            res.append(tuple(acc))
            return
        for k in range(start, len(labels)):
            # the remaining left-1 factors cost at least dmin each (labels are sorted by
            # (z, n, l), not by degree, so a later label may be cheaper than this one)
            if total + deg[k] + (left - 1) * dmin > dmax + 1e-9:
                continue
            rec(k, left - 1, acc + [k], total + deg[k])

    rec(0, nu, [], 0.0)
    return res


@lru_cache(maxsize=None)
def merged_terms(ls: Tuple[int, ...], groups: Tuple[int, ...]):
    """Per (l-tuple, identical-label pattern): the invariant couplings restricted to
    index tuples that are non-decreasing inside each group, times the number of
    permutations that map onto them. Returns (mu_idx [n_kept, nu], coef [rank, n_kept])."""
    V = invariant_couplings(ls, groups)
    rank = V.shape[0]
    nu = len(ls)
    grid = np.indices(tuple(2 * l + 1 for l in ls)).reshape(nu, -1).T
    keep = np.ones(len(grid), dtype=bool)
    mult = np.ones(len(grid))
    k = 0
    while k < nu:
        e = k
        while e + 1 < nu and groups[e + 1] == groups[k]:
            e += 1
        for a in range(k, e):
            keep &= grid[:, a] <= grid[:, a + 1]
        if e > k:  # multinomial count of distinct orderings inside the group
            sub = grid[:, k:e + 1]
            cnt = np.full(len(grid), float(factorial(e - k + 1)))
            for row_val in range(int(sub.max()) + 1):
                c = (sub == row_val).sum(axis=1)
                cnt /= np.array([factorial(int(x)) for x in c])
            mult *= cnt
        k = e + 1
    coef = V.reshape(rank, len(grid))[:, keep] * mult[keep][None, :]
    return grid[keep], coef


def emit_invariants(per_centre):
    """The invariant tables of chosen products. per_centre[zc]: the products of centre
    species zc, each (nu, labels, degree) with labels a tuple of (block, n, l). The atomic
    base index of a factor is block * n_nlm + nl_offset[(n, l)] + l + m over the channels
    (n, l) used, sorted. Returns the arrays of BasisTables (nl_n, nl_l, species, nu, degree,
    labels, term_start, term_coupling, term_factors)."""
    nl = sorted({(n, l) for chosen in per_centre for _, lab, _ in chosen for (_, n, l) in lab})
    nl_offset, off = {}, 0
    for n, l in nl:
        nl_offset[(n, l)] = off
        off += 2 * l + 1
    n_nlm = off
    species, nus, degree, blabels, starts, coups, facs = [], [], [], [], [0], [], []
    for zc, chosen in enumerate(per_centre):
        for nu, lab, deg in chosen:
            ls = tuple(l for (_, _, l) in lab)
            groups = tuple(sorted(set(lab)).index(x) for x in lab)
            mu_idx, coef = merged_terms(ls, groups)
            base = np.array([z * n_nlm + nl_offset[(n, l)] for (z, n, l) in lab])
            a = mu_idx + base[None, :]
            for row in coef:
                nz = np.abs(row) > 1e-13
                if not nz.any():
                    continue
                species.append(zc)
                nus.append(nu)
                degree.append(deg)
                lb = -np.ones((NU_MAX, 3), dtype=np.int32)
                lb[:nu] = np.array(lab)
                blabels.append(lb)
                fa = -np.ones((int(nz.sum()), NU_MAX), dtype=np.int32)
                fa[:, :nu] = a[nz]
                facs.append(fa)
                coups.append(row[nz])
                starts.append(starts[-1] + int(nz.sum()))
    return dict(
        species=np.array(species, dtype=np.int32), nu=np.array(nus, dtype=np.int32),
        degree=np.array(degree, dtype=float),
        labels=np.array(blabels, dtype=np.int32).reshape(-1, NU_MAX, 3),
        term_start=np.array(starts, dtype=np.int64),
        term_coupling=np.concatenate(coups) if coups else np.zeros(0),
        term_factors=np.concatenate(facs) if facs else np.zeros((0, NU_MAX), dtype=np.int32),
        nl_n=np.array([n for n, _ in nl], dtype=np.int32),
        nl_l=np.array([l for _, l in nl], dtype=np.int32),
    )
