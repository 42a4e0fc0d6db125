"""MaxVol active sets of per-atom basis vectors, one per element, and their updates.

For element s let B (N x m) hold the per-atom basis vectors of its training atoms (the
invariants whose centre species is s; their sum over atoms is the energy design row).
The grade of an atom with vector b is gamma = max_j |(b G)_j|: the largest coefficient
of b in the basis of the active rows, so gamma <= 1 inside the training data and the
volume of the active set would grow by the factor gamma if b were swapped in.

Construction (build_element):
1. Columns are scaled by their largest training magnitude (the choice of the spanned
   subspace would otherwise follow the sizes of the invariants, which differ by orders
   of magnitude between body orders; the maxvol coefficients themselves are invariant
   under any column transform).
2. The numerically spanned subspace: right singular vectors of the scaled rows with
   singular value > RANK_RTOL x the largest; r of them. MaxVol (pivoted-QR start, then
   row swaps while a coefficient exceeds 1) picks r active rows A (r x r) in these
   coordinates: the span part of G is P A^-1.
3. Directions the training rows do not span (exact identities among the invariants,
   near-dependencies, and invariants that are zero in all training data, e.g. those of
   an element pair never seen) would be invisible to a projection. Each gets a virtual
   active row of its training extent (the largest training component along it, at
   least EXTENT_FLOOR in scaled units; for all-zero invariants the floor is taken on the
   scale of the invariants of the same body order): a new environment that leaves the
   spanned subspace by more than the training data ever did grades above 1.
So G is m x m and invertible; its inverse M holds the active rows (real training rows in
the spanned subspace, virtual rows elsewhere). update_element swaps new rows into M by
the same rule, with Sherman-Morrison updates of G (no refactorization): the incremental
update of the active-learning loop.
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np
import scipy.linalg

RANK_RTOL = 1e-7     # relative singular value below which a direction is not spanned
EXTENT_FLOOR = 1e-6  # smallest extent of an unspanned direction (scaled units)
ZERO_RTOL = 1e-12    # an invariant below this x the largest training value counts as zero
SWAP_TOL = 1e-9      # swap while a coefficient exceeds 1 + SWAP_TOL (grade tests: 1 + 1e-8)
_REFRESH = 64        # recompute the coefficients from scratch after this many swaps


@dataclass
class ElementActiveSet:
    """The active set of one element.

    columns: [m] global basis indices of the element's invariants (increasing)
    G:       [m, m] grade map, gamma = max_j |(b[columns] @ G)_j|
    rows:    [m, m] active rows M (rows of real training atoms or virtual rows), or None
             when only the map is known (a set read from a model file)
    real:    [m] bool, which rows of M are training atoms (the others are virtual), or None
    """
    element: str
    columns: np.ndarray
    G: np.ndarray
    rows: Optional[np.ndarray] = None
    real: Optional[np.ndarray] = None

    @property
    def n_real(self) -> Optional[int]:
        return None if self.real is None else int(self.real.sum())

    def coefficients(self, b) -> np.ndarray:
        """[n, m] coefficients of per-atom vectors b ([n, m] in this element's columns)."""
        return np.asarray(b, dtype=float) @ self.G

    def grade(self, b) -> np.ndarray:
        """[n] grade of per-atom vectors b ([n, m] in this element's columns)."""
        c = self.coefficients(np.atleast_2d(b))
        return np.abs(c).max(axis=1) if c.shape[1] else np.zeros(c.shape[0])


def maxvol(X, tol=SWAP_TOL, max_swaps=None, orthonormal=False):
    """Indices of r rows of X (N x r, full column rank) whose r x r submatrix A has
    (locally) maximal |det|: every row's coefficients X A^-1 are <= 1 + tol in magnitude.
    Start: pivoted QR of the rows of highest leverage (at most 4r of them: pivoted QR is
    slow on many rows, and the volume lives in the high-leverage rows); then swap the row
    with the largest coefficient in, over all rows. orthonormal: X's columns are
    orthonormal, so that the leverages are its squared row norms (the choice of rows does
    not depend on a column transform of X)."""
    X = np.asarray(X, dtype=float)
    N, r = X.shape
    if r == 0:
        return np.zeros(0, dtype=int)
    if N < r:
        raise ValueError(f"maxvol needs at least as many rows as columns ({N} < {r})")
    cand = np.arange(N)
    if N > 4 * r:
        Q = X if orthonormal else scipy.linalg.qr(X, mode="economic", check_finite=False)[0]
        cand = np.sort(np.argsort(-np.einsum("ij,ij->i", Q, Q), kind="stable")[:4 * r])
    _, _, piv = scipy.linalg.qr(X[cand].T, mode="economic", pivoting=True, check_finite=False)
    idx = cand[piv[:r]]
    max_swaps = 50 * r + 100 if max_swaps is None else max_swaps
    swaps = 0
    while True:
        C = scipy.linalg.solve(X[idx].T, X.T, check_finite=False).T  # X A^-1
        for _ in range(_REFRESH):
            i, j = np.unravel_index(np.argmax(np.abs(C)), C.shape)
            if abs(C[i, j]) <= 1.0 + tol:
                return idx
            if swaps >= max_swaps:
                raise RuntimeError(f"maxvol did not converge in {max_swaps} swaps")
            # row i replaces active row j: C <- C - C[:, j] (C[i] - e_j) / C[i, j]
            ci = C[i].copy()
            ci[j] -= 1.0
            C -= np.outer(C[:, j] / C[i, j], ci)
            idx[j] = i
            swaps += 1


def _scales(B):
    """Column scales (largest training magnitude) and the mask of columns that are zero."""
    scale = np.abs(B).max(axis=0) if B.shape[0] else np.zeros(B.shape[1])
    top = scale.max() if scale.size else 0.0
    nonzero = scale > ZERO_RTOL * top if top > 0 else np.zeros(scale.size, dtype=bool)
    return scale, nonzero


def _zero_scale(scale, nonzero, body_order):
    """Scale of the all-zero invariants: the largest scale of the same body order."""
    out = np.empty(int((~nonzero).sum()))
    top = scale[nonzero].max() if nonzero.any() else 1.0
    for k, col in enumerate(np.flatnonzero(~nonzero)):
        same = nonzero & (body_order == body_order[col]) if body_order is not None else nonzero
        out[k] = scale[same].max() if same.any() else top
    return out


def build_element(element, columns, B, body_order=None) -> ElementActiveSet:
    """Active set of one element from the per-atom vectors B [N, m] of its training atoms
    (m = len(columns)). body_order: [m] correlation order of each invariant (scale of the
    all-zero invariants' virtual rows), None = one scale for all."""
    B = np.asarray(B, dtype=float)
    columns = np.asarray(columns, dtype=np.int64)
    m = columns.size
    if B.ndim != 2 or B.shape[1] != m:
        raise ValueError(f"{element}: per-atom vectors must be [n_atoms, {m}], got {B.shape}")
    if B.shape[0] == 0:
        raise ValueError(f"{element}: no training atoms of this element")
    if not np.all(np.isfinite(B)):
        raise ValueError(f"{element}: per-atom basis vectors contain NaN or Inf")
    scale, nz = _scales(B)
    nzi, zi = np.flatnonzero(nz), np.flatnonzero(~nz)
    G = np.zeros((m, m))
    M = np.zeros((m, m))
    real = np.zeros(m, dtype=bool)
    col = 0
    if nzi.size:
        s = scale[nzi]
        Y = B[:, nzi] / s
        Rq = scipy.linalg.qr(Y, mode="r", check_finite=False)[0][:min(Y.shape)]
        _, sig, Vt = scipy.linalg.svd(Rq, full_matrices=True, check_finite=False)
        r = int(np.sum(sig > RANK_RTOL * sig[0])) if sig.size and sig[0] > 0 else 0
        Vr, Vc = Vt[:r].T, Vt[r:].T
        X = Y @ Vr
        idx = maxvol(X / sig[:r], orthonormal=True)  # X / sig: Y's left singular vectors
        A = X[idx]
        G[np.ix_(nzi, np.arange(r))] = (Vr @ np.linalg.inv(A)) / s[:, None]
        M[:r, nzi] = B[idx][:, nzi]  # the active rows themselves (their complement part
        real[:r] = True              # is below the extent of every virtual row)
        # unspanned directions: virtual rows of the training extent
        ext = np.abs(Y @ Vc).max(axis=0) if Vc.shape[1] else np.zeros(0)
        tau = np.maximum(ext, EXTENT_FLOOR)
        c = Vc.shape[1]
        G[np.ix_(nzi, r + np.arange(c))] = Vc / tau / s[:, None]
        M[r:r + c, nzi] = (tau[:, None] * Vc.T) * s
        col = r + c
    if zi.size:
        tz = EXTENT_FLOOR * _zero_scale(scale, nz, None if body_order is None
                                        else np.asarray(body_order))
        k = col + np.arange(zi.size)
        G[zi, k] = 1.0 / tz
        M[k, zi] = tz
    # a last pass over all rows with the final G settles round-off-level violations
    aset = ElementActiveSet(str(element), columns, G, M, real)
    return update_element(aset, B)[0]


def update_element(aset: ElementActiveSet, new_rows, tol=SWAP_TOL):
    """Swap rows of new_rows ([n, m] per-atom vectors) into the active set until none of
    them has a coefficient above 1 + tol. Returns (updated set, indices of the new rows
    now active). The volume |det M| grows by |c| > 1 with every swap."""
    B = np.atleast_2d(np.asarray(new_rows, dtype=float))
    m = aset.columns.size
    if B.shape[1] != m:
        raise ValueError(f"{aset.element}: new rows must have {m} entries, got {B.shape[1]}")
    if not np.all(np.isfinite(B)):
        raise ValueError(f"{aset.element}: new rows contain NaN or Inf")
    G = aset.G.copy()
    M = None if aset.rows is None else aset.rows.copy()
    real = None if aset.real is None else aset.real.copy()
    source = np.full(m, -1)  # which new row sits in each active slot
    if B.shape[0] == 0 or m == 0:
        return ElementActiveSet(aset.element, aset.columns, G, M, real), np.zeros(0, dtype=int)
    swaps, limit = 0, 50 * m + 100
    while True:
        C = B @ G
        for _ in range(_REFRESH):
            i, j = np.unravel_index(np.argmax(np.abs(C)), C.shape)
            if abs(C[i, j]) <= 1.0 + tol:
                break
            if swaps >= limit:
                raise RuntimeError(f"{aset.element}: active-set update did not converge")
            ci = C[i].copy()
            ci[j] -= 1.0
            g = G[:, j] / C[i, j]
            G -= np.outer(g, ci)
            C -= np.outer(C[:, j] / C[i, j], ci)
            if M is not None:
                M[j] = B[i]
                real[j] = True
            source[j] = i
            swaps += 1
        else:
            continue
        if np.abs(B @ G).max() <= 1.0 + tol:  # confirm with fresh coefficients
            break
    active = np.unique(source[source >= 0])
    return ElementActiveSet(aset.element, aset.columns, G, M, real), active
