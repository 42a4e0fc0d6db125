"""Solvers for the regularized linear least-squares problem, working from the
accumulated triangular factor of the weighted design matrix (see fit/assemble.py).

Problem: minimize ||W (A c - y)||^2 + lambda * ||Gamma S c||^2 where
- R, qty: W A = Q R, qty = Q^T W y (R upper triangular, p x p);
- rss0: ||W y||^2 - ||qty||^2, the part of the targets no coefficient can reach;
- S: column scaling, s_j = ||R[:, j]|| = ||(W A)_j||, so that every basis function enters
  with unit data norm and lambda is dimensionless (basis functions of different order
  differ by orders of magnitude in size). S is also part of the prior (c_j has prior scale
  1 / (gamma_j s_j)), and it is kept on purpose although the evidence prefers a prior on
  the raw coefficients (S = 1): the evidence measures the fit where the data are, and the
  data-scaled prior extrapolates better, e.g. to Ta's volume scan outside the training
  volumes (benchmarks/fit_cv.py variant no_column_scaling, benchmarks/fit_accuracy.py;
  benchmarks/RESULTS.md "Cross-validation");
- Gamma: the smoothness prior (fit/prior.py), diagonal; its exponent is chosen by the
  same evidence unless the configuration fixes it (fit/prior_search.py).
With w = Gamma S c and X = R (Gamma S)^-1 the problem is plain ridge min ||X w - qty||^2
+ lambda ||w||^2 (plus the constant rss0); the coefficients come back as c = w / (s gamma).
Columns marked `unpenalized` (the fitted E0 columns) have a flat prior: they are
eliminated first (Householder reflectors of these few columns applied to the rest), and
the scaling S is measured on the rest after that elimination.

Each solver object has one method,
`solve(R, qty, gamma=..., n_rows=..., rss0=..., unpenalized=...)`,
returning a `Solution` (coefficients in the units of A's columns plus diagnostics):
- RidgeSolver(lam): fixed lambda: QR of the augmented [X; sqrt(lambda) I]; lam=None picks
  lambda by generalized cross-validation, cheap from the SVD of X (p x p).
- BLRSolver: Bayesian linear regression, prior w ~ N(0, 1/alpha), noise 1/beta, alpha and
  beta by evidence maximization (MacKay's fixed-point updates) in the SVD basis of X;
  lambda = alpha / beta. The default: no parameter to choose. Its `log_evidence(...)`
  gives the evidence alone, without singular vectors (cheaper than solve; RESULTS.md
  "Cost of a fit, by part").
- TSVDSolver(rcond): truncated SVD of X (singular values below rcond * max dropped).
"""
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import scipy.linalg
import scipy.optimize
from scipy.linalg import lapack

_EPS = np.finfo(float).eps


@dataclass
class Solution:
    """coefficients: [p], in the units of the design-matrix columns.
    lam: regularization strength in the scaled problem (alpha/beta for BLR).
    info: solver diagnostics (plain numbers, JSON-ready)."""
    coefficients: np.ndarray
    lam: float
    info: dict = field(default_factory=dict)


def column_norms(R: np.ndarray) -> np.ndarray:
    """||R[:, j]|| = ||(W A)_j||, the data norm of each column."""
    return np.sqrt(np.einsum("ij,ij->j", R, R))


def active_columns(R: np.ndarray, top: Optional[float] = None) -> np.ndarray:
    """Columns that carry data: norm above round-off of the largest column (or of `top`).
    A function that never occurs in the data (zero in exact arithmetic) can get a
    round-off-level column in R; scaling it to unit norm would fit noise, so such columns
    get coefficient 0."""
    s = column_norms(R)
    if top is None:
        top = s.max() if s.size else 0.0
    return s > max(R.shape[1], 10) * _EPS * top


def _independent(R, cols, rtol=1e-10):
    """The subset of columns `cols` of R that are linearly independent (pivoted QR)."""
    if cols.size <= 1:
        return cols
    _, T, piv = scipy.linalg.qr(R[:, cols], mode="economic", pivoting=True, check_finite=False)
    d = np.abs(np.diag(T))
    rank = int(np.sum(d > rtol * d[0])) if d.size and d[0] > 0 else 0
    return np.sort(cols[piv[:rank]])


def _check(R, qty, gamma):
    R = np.asarray(R, dtype=float)
    qty = np.asarray(qty, dtype=float)
    if R.ndim != 2 or R.shape[0] != R.shape[1]:
        raise ValueError(f"R must be square, got shape {R.shape}")
    p = R.shape[1]
    if qty.shape != (p,):
        raise ValueError(f"qty must have shape ({p},), got {qty.shape}")
    g = np.ones(p) if gamma is None else np.asarray(gamma, dtype=float)
    if g.shape != (p,) or np.any(~np.isfinite(g)) or np.any(g <= 0):
        raise ValueError(f"gamma must be {p} finite numbers > 0")
    if not (np.all(np.isfinite(R)) and np.all(np.isfinite(qty))):
        raise ValueError("R or qty contain NaN or inf")
    return R, qty, g


def _svd(X):
    try:
        return scipy.linalg.svd(X, full_matrices=False, lapack_driver="gesdd", check_finite=False)
    except np.linalg.LinAlgError:  # gesdd rarely fails to converge; gesvd is slower but robust
        return scipy.linalg.svd(X, full_matrices=False, lapack_driver="gesvd", check_finite=False)


@dataclass
class _Reduced:
    """The scaled, prior-free problem min ||X w - q||^2 + lam ||w||^2 (+ rss0) that a
    solve works on, and what maps w back to the coefficients c of the original columns."""
    X: np.ndarray
    q: np.ndarray
    n: int                    # data rows minus the eliminated (unpenalized) columns
    rss0: float
    p: int
    pen: np.ndarray           # penalized active columns (of the original p)
    act2: np.ndarray          # which of them stay active after the elimination
    d: np.ndarray             # their scale: column norm x gamma
    fre: np.ndarray           # independent unpenalized columns, eliminated first
    fre_all: np.ndarray       # all active unpenalized columns
    T11: Optional[np.ndarray] = None
    T12: Optional[np.ndarray] = None
    q1: Optional[np.ndarray] = None
    R: Optional[np.ndarray] = None

    def coefficients(self, w: np.ndarray) -> np.ndarray:
        c_pen = np.zeros(self.pen.size)
        c_pen[self.act2] = w / self.d[self.act2]
        c = np.zeros(self.p)
        c[self.pen] = c_pen
        nf = self.fre.size
        if nf:
            c[self.fre] = scipy.linalg.solve_triangular(self.T11, self.q1 - self.T12 @ c_pen,
                                                        check_finite=False)
            if nf < self.fre_all.size:
                # spread over all E0 columns: the minimum-norm values with the same fitted
                # energies (the data cannot tell them apart)
                target = self.R[:, self.fre] @ c[self.fre]
                c[self.fre_all] = np.linalg.lstsq(self.R[:, self.fre_all], target, rcond=None)[0]
        return c

    def counts(self) -> dict:
        nf = int(self.fre.size)
        return dict(n_e0_not_identifiable=int(self.fre_all.size) - nf, n_rows=self.n + nf,
                    n_columns=self.p, n_unpenalized=nf,
                    n_inactive=int(self.p - nf - self.act2.sum()))


def _eliminate(R, qty, fre, pen):
    """Q^T [R_pen | qty] for the QR of the unpenalized columns R_fre (p x nf, nf small):
    nf Householder reflectors applied to the rest, O(nf p^2) instead of a QR of all p
    columns. Returns (T11, T12, q1, R22, q2); R22 is (p - nf) x npen, not triangular
    (the solvers below only need it up to an orthogonal factor on the left)."""
    nf = fre.size
    qr, tau, work, info = lapack.dgeqrf(R[:, fre])
    if info != 0:
        raise np.linalg.LinAlgError(f"dgeqrf failed (info {info})")
    rest = np.asfortranarray(np.c_[R[:, pen], qty])
    lwork = int(lapack.dormqr("L", "T", qr, tau, rest, -1)[1][0])
    M, work, info = lapack.dormqr("L", "T", qr, tau, rest, max(lwork, 1), overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"dormqr failed (info {info})")
    return np.triu(qr[:nf, :nf]), M[:nf, :-1], M[:nf, -1], M[nf:, :-1], M[nf:, -1]


class _ScaledSolver(ABC):
    """Shared part: unpenalized columns, column scaling, w = gamma * s * c."""

    def __init__(self, column_scaling: bool = True):
        self.column_scaling = bool(column_scaling)

    def _reduce(self, R, qty, gamma, n_rows, rss0, unpenalized) -> _Reduced:
        """unpenalized: bool mask of columns with a flat prior (the fitted E0 columns: their
        size, ~eV per atom, must not set the prior scale of the basis coefficients). They
        are eliminated first (QR of these columns); the regularized problem is for the
        rest, whose column norms are then measured after that elimination."""
        R, qty, g = _check(R, qty, gamma)
        p = R.shape[1]
        free = np.zeros(p, dtype=bool) if unpenalized is None else np.asarray(unpenalized, bool)
        if free.shape != (p,):
            raise ValueError(f"unpenalized must be a mask of {p} columns")
        top = float(column_norms(R).max()) if p else 0.0
        active = active_columns(R, top)
        fre_all, pen = np.flatnonzero(active & free), np.flatnonzero(active & ~free)
        fre = _independent(R, fre_all)  # e.g. all data of one composition: E0's collinear
        n = int(n_rows) if n_rows is not None else p
        rss0 = max(float(rss0), 0.0)
        nf = fre.size
        T11 = T12 = q1 = None
        if nf:
            T11, T12, q1, R22, q2 = _eliminate(R, qty, fre, pen)
        else:
            R22, q2 = R[:, pen], qty
        act2 = active_columns(R22, top)  # e.g. a function collinear with E0 becomes inactive
        d = (column_norms(R22) if self.column_scaling else np.ones(pen.size)) * g[pen]
        return _Reduced(X=R22[:, act2] / d[None, act2], q=q2, n=n - nf, rss0=rss0, p=p,
                        pen=pen, act2=act2, d=d, fre=fre, fre_all=fre_all, T11=T11, T12=T12,
                        q1=q1, R=R if fre.size < fre_all.size else None)

    def solve(self, R, qty, gamma=None, n_rows: Optional[int] = None, rss0: float = 0.0,
              unpenalized=None) -> Solution:
        """Coefficients of all p columns (see _reduce for `unpenalized`)."""
        red = self._reduce(R, qty, gamma, n_rows, rss0, unpenalized)
        w, lam, info = self._solve_scaled(red.X, red.q, red.n, red.rss0)
        info.update(red.counts(), column_scaling=self.column_scaling)
        return Solution(coefficients=red.coefficients(w), lam=float(lam), info=info)

    @abstractmethod
    def _solve_scaled(self, X, qty, n, rss0):
        """Solve the scaled, prior-free problem: returns (w, lambda, info)."""


def data_rows(X, qty, rss0):
    """(X, qty, rss0) without the rows of X that are zero up to round-off, their targets
    moved into rss0 (no coefficient reaches them). With fewer data rows m than basis
    functions p, the accumulated factor R (p x p) has only m rows above round-off, and the
    bidiagonalization of the remaining m x p matrix costs O(m^2 p), not O(p^3). Used by
    the evidence of the searches (log_evidence), not by the solves."""
    if X.shape[0] <= X.shape[1] // 2 or X.size == 0:  # already small enough
        return X, qty, rss0
    norms = np.sqrt(np.einsum("ij,ij->i", X, X))
    keep = norms > max(X.shape) * _EPS * norms.max()
    if keep.all() or keep.sum() >= X.shape[1]:
        return X, qty, rss0
    gone = qty[~keep]
    return X[keep], qty[keep], rss0 + float(gone @ gone)


def _svd_z(X, qty, rss0):
    """(U, sig, Vt, z = U^T qty, rss0 plus the part of qty outside X's range)."""
    U, sig, Vt = _svd(X)
    z = U.T @ qty
    if X.shape[0] > X.shape[1]:
        rss0 += max(float(qty @ qty - z @ z), 0.0)
    return U, sig, Vt, z, rss0


def _ridge_qr(X: np.ndarray, qty: np.ndarray, lam: float) -> np.ndarray:
    """argmin ||X w - qty||^2 + lam ||w||^2 via QR of [X; sqrt(lam) I] (keeps X's conditioning)."""
    p = X.shape[1]
    aug = np.vstack([X, np.sqrt(lam) * np.eye(p)])
    rhs = np.concatenate([qty, np.zeros(p)])
    Q, R2 = scipy.linalg.qr(aug, mode="economic", check_finite=False)
    return scipy.linalg.solve_triangular(R2, Q.T @ rhs, check_finite=False)


def _rss(sig2, z2, lam, rss0):
    """Residual sum of squares of the ridge solution in the SVD basis."""
    f = lam / (sig2 + lam)
    return float(np.sum(f * f * z2) + rss0)


class RidgeSolver(_ScaledSolver):
    """Ridge with the smoothness prior. lam: fixed strength (dimensionless, scaled problem),
    or None to choose it by generalized cross-validation."""

    def __init__(self, lam: Optional[float] = None, column_scaling: bool = True):
        super().__init__(column_scaling)
        if lam is not None and not (np.isfinite(lam) and lam >= 0):
            raise ValueError(f"ridge lambda must be >= 0 or None (GCV), got {lam}")
        self.lam = lam

    def _solve_scaled(self, X, qty, n, rss0):
        if self.lam is not None:
            w = _ridge_qr(X, qty, float(self.lam)) if self.lam > 0 else \
                scipy.linalg.lstsq(X, qty, check_finite=False)[0]
            return w, float(self.lam), {"solver": "ridge", "lambda_from": "given"}
        U, sig, Vt, z, rss0 = _svd_z(X, qty, rss0)
        lam, gcv = _gcv_lambda(sig, z, n, rss0)
        w = Vt.T @ (sig / (sig * sig + lam) * z)
        return w, lam, {"solver": "ridge", "lambda_from": "gcv", "gcv": gcv,
                        "effective_parameters": float(np.sum(sig**2 / (sig**2 + lam)))}


def _gcv_lambda(sig, z, n, rss0):
    """Minimize GCV(lam) = n RSS(lam) / (n - df(lam))^2 over log lam (grid, then refine)."""
    sig2, z2 = sig * sig, z * z
    top = float(sig2.max()) if sig2.size and sig2.max() > 0 else 1.0

    def gcv(loglam):
        lam = 10.0 ** loglam
        df = float(np.sum(sig2 / (sig2 + lam)))
        dof = max(n - df, 1e-12 * n)
        return n * _rss(sig2, z2, lam, rss0) / dof ** 2

    lo, hi = np.log10(top) - 16.0, np.log10(top) + 2.0
    grid = np.linspace(lo, hi, 181)
    vals = np.array([gcv(t) for t in grid])
    k = int(np.argmin(vals))
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
    res = scipy.optimize.minimize_scalar(gcv, bounds=(a, b), method="bounded",
                                         options={"xatol": 1e-4})
    best = res.x if res.fun <= vals[k] else grid[k]
    return float(10.0 ** best), float(min(res.fun, vals[k]))


class BLRSolver(_ScaledSolver):
    """Bayesian linear regression with evidence maximization (MacKay), in the SVD basis.

    Updates: gamma_eff = sum sig^2/(sig^2 + lam), alpha = gamma_eff / |w|^2,
    beta = (n - gamma_eff) / RSS, lam = alpha / beta, until lam changes by < tol (relative).
    """

    def __init__(self, max_iter: int = 200, tol: float = 1e-6, column_scaling: bool = True):
        super().__init__(column_scaling)
        if int(max_iter) < 1 or not tol > 0:
            raise ValueError("BLR needs max_iter >= 1 and tol > 0")
        self.max_iter = int(max_iter)
        self.tol = float(tol)

    def _solve_scaled(self, X, qty, n, rss0):
        w, fit, _, _ = self._fit_scaled(X, qty, n, rss0)
        return w, fit.pop("lam"), fit

    def _fit_scaled(self, X, qty, n, rss0):
        # all rows of X (no data_rows): Vt stays square, as the posterior needs, and the
        # posterior's mean is exactly the solution (trust/from_fit.py checks that)
        U, sig, Vt, z, rss0 = _svd_z(X, qty, rss0)
        fit = _evidence_fit(sig, z, n, rss0, self.max_iter, self.tol)
        w = Vt.T @ (sig / (sig * sig + fit["lam"]) * z)
        return w, fit, sig, Vt

    def posterior(self, R, qty, gamma=None, n_rows: Optional[int] = None, rss0: float = 0.0,
                  unpenalized=None):
        """(Solution as from solve(...), F): the posterior of the coefficients of all p
        columns is N(solution.coefficients, F F^T) at the evidence optimum (alpha, beta).
        In the scaled problem Sigma_w = (beta X^T X + alpha I)^-1 = V diag(1 / (beta sig^2
        + alpha)) V^T; c = w / d maps it to the original columns. The unpenalized (E0)
        columns have a flat prior: given the rest they are N(T11^-1 (q1 - T12 c),
        (beta T11^T T11)^-1). Inactive columns are fixed at 0 (no variance). F is
        [p, k], k <= p, not triangular (trust/committee.py lower_factor makes it so)."""
        red = self._reduce(R, qty, gamma, n_rows, rss0, unpenalized)
        w, fit, sig, Vt = self._fit_scaled(red.X, red.q, red.n, red.rss0)
        alpha, beta = fit["alpha"], fit["beta"]
        lam = fit.pop("lam")
        info = dict(fit, **red.counts(), column_scaling=self.column_scaling)
        solution = Solution(coefficients=red.coefficients(w), lam=float(lam), info=info)
        # X has at least as many rows as columns (p - n_fre >= active penalized columns),
        # so Vt is square: its rows span all of w
        Fw = Vt.T / np.sqrt(beta * sig * sig + alpha)[None, :]
        nf = red.fre.size
        F = np.zeros((red.p, Fw.shape[1] + nf))
        pen_act = red.pen[red.act2]
        F[pen_act, :Fw.shape[1]] = Fw / red.d[red.act2][:, None]
        if nf:
            inv11 = scipy.linalg.solve_triangular(red.T11, np.eye(nf), check_finite=False)
            F[red.fre, :Fw.shape[1]] = -inv11 @ (red.T12[:, red.act2] @ F[pen_act, :Fw.shape[1]])
            F[red.fre, Fw.shape[1]:] = inv11 / np.sqrt(beta)
            if nf < red.fre_all.size:  # the minimum-norm spread of red.coefficients
                spread = np.linalg.lstsq(red.R[:, red.fre_all], red.R[:, red.fre], rcond=None)[0]
                F[red.fre_all] = spread @ F[red.fre]
        return solution, F

    def log_evidence(self, R, qty, gamma=None, n_rows: Optional[int] = None,
                     rss0: float = 0.0, unpenalized=None) -> float:
        """log p(y | alpha, beta) at the evidence optimum, as in solve(...).info, without
        the coefficients: the singular values and U^T qty come from a bidiagonalization
        that never forms the singular vectors (fit/_bidiag.pyx), cheaper than the
        SVD. For comparing bases (the r_scale search, fit/r_scale_search.py)."""
        from ace_lin.fit._bidiag import singular_values_and_projection

        red = self._reduce(R, qty, gamma, n_rows, rss0, unpenalized)
        X, q, rss0 = data_rows(red.X, red.q, red.rss0)
        sig, z, outside = singular_values_and_projection(X, q)
        return _evidence_fit(sig, z, red.n, rss0 + outside, self.max_iter,
                             self.tol)["log_evidence"]


def _evidence_fit(sig, z, n, rss0, max_iter, tol):
    """MacKay's evidence maximization from the singular values sig of X and z = U^T qty:
    dict with lam = alpha/beta, alpha, beta, the log evidence and diagnostics. Zero
    singular values may be left out (a wide X has fewer than columns): each would add
    log(alpha) / 2 - log(alpha + 0) / 2 = 0 to the log evidence and nothing to the rest."""
    sig2, z2 = sig * sig, z * z
    p = sig.size
    total = float(np.sum(z2) + rss0)
    # a zero residual (noise-free data) would send beta to infinity: floor it at
    # round-off level of the targets, which leaves lam negligibly small
    rss_floor = (64 * _EPS) ** 2 * max(total, np.finfo(float).tiny)
    top = float(sig2.max()) if sig2.size and sig2.max() > 0 else 1.0
    lam = 1e-6 * top

    def update(lam):
        """|w|^2, RSS, effective parameters and MacKay's alpha, beta at this lam."""
        wv = sig / (sig2 + lam) * z                  # w in the V basis
        ew = float(np.sum(wv * wv))
        ed = max(_rss(sig2, z2, lam, rss0), rss_floor)
        g_eff = float(np.sum(sig2 / (sig2 + lam)))
        alpha = max(g_eff, 1e-12) / max(ew, np.finfo(float).tiny)
        beta = max(n - g_eff, 1e-12 * n) / ed
        return ew, ed, g_eff, alpha, beta

    converged = False
    for it in range(1, max_iter + 1):
        _, _, _, alpha, beta = update(lam)
        new = alpha / beta
        if abs(np.log(new / lam)) < tol:
            lam = new
            converged = True
            break
        lam = new
    ew, ed, g_eff, alpha, beta = update(lam)
    # log evidence log p(y | alpha, beta); sig has p entries (X has p columns)
    log_ev = (0.5 * p * np.log(alpha) + 0.5 * n * np.log(beta) - 0.5 * beta * ed
              - 0.5 * alpha * ew - 0.5 * float(np.sum(np.log(alpha + beta * sig2)))
              - 0.5 * n * np.log(2 * np.pi))
    return {"lam": float(lam), "solver": "blr", "alpha": float(alpha), "beta": float(beta),
            "effective_parameters": g_eff, "log_evidence": float(log_ev),
            "iterations": it, "converged": converged, "noise_rms": float(1.0 / np.sqrt(beta))}


class TSVDSolver(_ScaledSolver):
    """Truncated SVD: drop singular values below rcond * the largest (scaled problem)."""

    def __init__(self, rcond: float = 1e-8, column_scaling: bool = True):
        super().__init__(column_scaling)
        if not (0 < rcond < 1):
            raise ValueError(f"tsvd rcond must be in (0, 1), got {rcond}")
        self.rcond = float(rcond)

    def _solve_scaled(self, X, qty, n, rss0):
        U, sig, Vt, z, rss0 = _svd_z(X, qty, rss0)
        keep = sig > self.rcond * (sig.max() if sig.size else 0.0)
        inv = np.zeros_like(sig)
        inv[keep] = 1.0 / sig[keep]
        w = Vt.T @ (inv * z)
        return w, 0.0, {"solver": "tsvd", "rcond": self.rcond, "rank": int(keep.sum())}


SOLVERS = {"blr": BLRSolver, "ridge": RidgeSolver, "tsvd": TSVDSolver}


def make_solver(kind: str = "blr", **params):
    """Solver object by name (blr | ridge | tsvd) with its keyword parameters."""
    if kind not in SOLVERS:
        raise ValueError(f"unknown solver {kind!r}; choose one of {sorted(SOLVERS)}")
    return SOLVERS[kind](**params)
