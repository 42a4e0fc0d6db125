"""Solvers on synthetic least-squares problems (no compiled core needed)."""
import numpy as np
import pytest
import scipy.linalg

from ace_lin.fit.prior import SmoothnessPrior
from ace_lin.fit.solvers import BLRSolver, RidgeSolver, TSVDSolver, column_norms, make_solver


def qr_system(A, y):
    """R, Q^T y and the out-of-range residual, as the assembly delivers them."""
    Q, R = np.linalg.qr(A)
    qty = Q.T @ y
    return R, qty, float(y @ y - qty @ qty)


def random_problem(n=300, p=25, noise=0.0, seed=0, spread=3.0, signal=1.0):
    """A c + noise; each column's contribution A_j c_j has norm ~ signal."""
    rng = np.random.default_rng(seed)
    # columns of very different size, as ACE functions of different order
    A = rng.normal(size=(n, p)) * 10.0 ** rng.uniform(-spread, spread, size=p)
    c = signal * rng.normal(size=p) / np.linalg.norm(A, axis=0)
    y = A @ c + noise * rng.normal(size=n)
    return A, c, y


def test_ridge_tiny_lambda_equals_lstsq():
    A, _, y = random_problem(noise=0.1)
    R, qty, rss0 = qr_system(A, y)
    ref = np.linalg.lstsq(A, y, rcond=None)[0]
    sol = RidgeSolver(lam=1e-13).solve(R, qty, n_rows=A.shape[0], rss0=rss0)
    np.testing.assert_allclose(sol.coefficients, ref, rtol=1e-8, atol=0)


def test_ridge_fixed_lambda_matches_closed_form():
    """Ridge in scaled coordinates: (X^T X + lam I) w = X^T y with X = A / (s gamma)."""
    A, _, y = random_problem(noise=0.5, seed=1)
    gamma = 1.0 + np.arange(A.shape[1], dtype=float) ** 2 / 50
    R, qty, rss0 = qr_system(A, y)
    lam = 1e-3
    sol = RidgeSolver(lam=lam).solve(R, qty, gamma=gamma, rss0=rss0)
    d = np.linalg.norm(A, axis=0) * gamma
    X = A / d
    w = np.linalg.solve(X.T @ X + lam * np.eye(X.shape[1]), X.T @ y)
    np.testing.assert_allclose(sol.coefficients, w / d, rtol=1e-7)


def test_column_scaling_makes_solution_scale_invariant():
    A, _, y = random_problem(noise=0.3, seed=2)
    D = 10.0 ** np.linspace(-4, 4, A.shape[1])
    for solver in (RidgeSolver(lam=1e-2), BLRSolver(), RidgeSolver(lam=None)):
        c1 = solver.solve(*qr_system(A, y)[:2]).coefficients
        c2 = solver.solve(*qr_system(A * D, y)[:2]).coefficients
        np.testing.assert_allclose(c2 * D, c1, rtol=1e-6)


def test_blr_recovers_planted_model_and_noise_level():
    # per-row signal ~ 1, noise 0.05: the expected OLS error is ~ 0.05 per scaled coefficient
    A, c_true, y = random_problem(n=2000, p=30, noise=0.05, seed=3, spread=1.0, signal=40.0)
    R, qty, rss0 = qr_system(A, y)
    sol = BLRSolver().solve(R, qty, n_rows=A.shape[0], rss0=rss0)
    assert sol.info["converged"]
    norms = np.linalg.norm(A, axis=0)
    err = np.abs(sol.coefficients - c_true) * norms     # in units of the noise per column
    assert np.sqrt(np.mean(err**2)) < 2 * 0.05
    assert np.linalg.norm(err) < 0.01 * np.linalg.norm(c_true * norms)
    assert sol.info["noise_rms"] == pytest.approx(0.05, rel=0.1)


def test_blr_noise_free_is_exact():
    A, c_true, y = random_problem(seed=4)
    R, qty, rss0 = qr_system(A, y)
    sol = BLRSolver().solve(R, qty, n_rows=A.shape[0], rss0=rss0)
    np.testing.assert_allclose(sol.coefficients, c_true, rtol=1e-8)


def _log_evidence_dense(X, y, alpha, beta):
    """log N(y | 0, I/beta + X X^T/alpha), computed without any SVD trick."""
    n = X.shape[0]
    C = np.eye(n) / beta + X @ X.T / alpha
    L = np.linalg.cholesky(C)
    z = scipy.linalg.solve_triangular(L, y, lower=True)
    return -0.5 * z @ z - np.sum(np.log(np.diag(L))) - 0.5 * n * np.log(2 * np.pi)


def test_blr_evidence_is_correct_and_maximal():
    A, _, y = random_problem(n=120, p=15, noise=0.2, seed=5, spread=0.5)
    R, qty, rss0 = qr_system(A, y)
    sol = BLRSolver(tol=1e-10).solve(R, qty, n_rows=A.shape[0], rss0=rss0)
    X = A / column_norms(R)
    a, b = sol.info["alpha"], sol.info["beta"]
    ev = _log_evidence_dense(X, y, a, b)
    assert sol.info["log_evidence"] == pytest.approx(ev, rel=1e-8)
    for fa, fb in ((1.2, 1), (1 / 1.2, 1), (1, 1.2), (1, 1 / 1.2)):
        assert _log_evidence_dense(X, y, a * fa, b * fb) < ev


def test_gcv_minimizes_direct_gcv():
    A, _, y = random_problem(n=150, p=40, noise=0.3, seed=6)
    R, qty, rss0 = qr_system(A, y)
    n = A.shape[0]
    sol = RidgeSolver(lam=None).solve(R, qty, n_rows=n, rss0=rss0)
    X = A / column_norms(R)

    def gcv(lam):  # explicit hat matrix on the full data
        H = X @ np.linalg.solve(X.T @ X + lam * np.eye(X.shape[1]), X.T)
        r = y - H @ y
        return n * (r @ r) / (n - np.trace(H)) ** 2

    g0 = gcv(sol.lam)
    assert sol.info["gcv"] == pytest.approx(g0, rel=1e-6)
    assert g0 <= gcv(sol.lam * 1.5) and g0 <= gcv(sol.lam / 1.5)


def test_prior_shrinks_high_degree_more():
    A, _, y = random_problem(n=200, p=20, noise=1.0, seed=7, spread=0.0)
    R, qty, rss0 = qr_system(A, y)
    degree = np.repeat([1.0, 10.0], 10)
    gamma = SmoothnessPrior(kind="algebraic", p=3).gamma(degree)
    free = np.linalg.lstsq(A, y, rcond=None)[0]
    c = RidgeSolver(lam=1e-2).solve(R, qty, gamma=gamma).coefficients
    shrink = np.abs(c) / np.abs(free)
    assert np.median(shrink[10:]) < 0.2 < np.median(shrink[:10])


def test_tsvd_minimum_norm_on_rank_deficient_problem():
    rng = np.random.default_rng(8)
    B = rng.normal(size=(100, 6))
    A = np.hstack([B, B[:, :2] @ rng.normal(size=(2, 3))])  # 3 dependent columns
    y = rng.normal(size=100)
    R, qty, _ = qr_system(A, y)
    c = TSVDSolver(rcond=1e-10, column_scaling=False).solve(R, qty).coefficients
    np.testing.assert_allclose(c, np.linalg.pinv(A) @ y, rtol=1e-8, atol=1e-10)


def test_zero_column_gets_zero_coefficient():
    A, _, y = random_problem(noise=0.1, seed=9)
    A[:, 3] = 0.0
    R, qty, rss0 = qr_system(A, y)
    for kind in ("blr", "ridge", "tsvd"):
        c = make_solver(kind).solve(R, qty, n_rows=len(y), rss0=rss0).coefficients
        assert c[3] == 0.0 and np.all(np.isfinite(c))


def test_solvers_are_deterministic():
    A, _, y = random_problem(n=400, p=60, noise=0.2, seed=10)
    R, qty, rss0 = qr_system(A, y)
    for kind in ("blr", "ridge", "tsvd"):
        s = make_solver(kind)
        c1 = s.solve(R, qty, n_rows=400, rss0=rss0).coefficients
        c2 = make_solver(kind).solve(R.copy(), qty.copy(), n_rows=400, rss0=rss0).coefficients
        assert np.array_equal(c1, c2)


def test_bad_input_is_rejected():
    R = np.eye(3)
    with pytest.raises(ValueError, match="square"):
        BLRSolver().solve(np.ones((3, 2)), np.ones(2))
    with pytest.raises(ValueError, match="gamma"):
        BLRSolver().solve(R, np.ones(3), gamma=np.array([1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="NaN"):
        BLRSolver().solve(R, np.array([1.0, np.nan, 0.0]))
    with pytest.raises(ValueError, match="unknown solver"):
        make_solver("lasso")
    with pytest.raises(ValueError):
        RidgeSolver(lam=-1.0)


def test_prior_kinds():
    d = np.array([0.0, 1.0, 2.0, 4.0])
    np.testing.assert_allclose(SmoothnessPrior("algebraic", p=2).gamma(d), 1 + d**2)
    np.testing.assert_allclose(SmoothnessPrior("exponential", d_ref=2.0).gamma(d), np.exp(d / 2))
    np.testing.assert_allclose(SmoothnessPrior("none", ridge=0.5).gamma(d), 0.5)
    with pytest.raises(ValueError, match="ridge > 0"):
        SmoothnessPrior("algebraic", ridge=0.0).gamma(d)
    with pytest.raises(ValueError, match="kind"):
        SmoothnessPrior("gaussian")


def test_unpenalized_column_is_shift_equivariant():
    """A flat-prior column (like a fitted E0) absorbs a constant shift of the targets
    exactly and leaves the regularized coefficients unchanged."""
    A, _, y = random_problem(n=300, p=12, noise=0.3, seed=11, spread=1.0)
    A[:, -1] = 1.0  # "count of atoms / N": the E0 column
    free = np.zeros(12, dtype=bool)
    free[-1] = True
    for solver in (BLRSolver(), RidgeSolver(lam=1e-1), RidgeSolver(lam=None)):
        c1 = solver.solve(*qr_system(A, y)[:2], n_rows=300, unpenalized=free).coefficients
        c2 = solver.solve(*qr_system(A, y + 1000.0)[:2], n_rows=300, unpenalized=free).coefficients
        assert c2[-1] - c1[-1] == pytest.approx(1000.0, rel=1e-9)
        np.testing.assert_allclose(c2[:-1], c1[:-1], rtol=1e-6, atol=1e-9 * np.abs(c1).max())
    # with the same column penalized, the shift leaks into the other coefficients
    c1 = RidgeSolver(lam=1e-1).solve(*qr_system(A, y)[:2]).coefficients
    c2 = RidgeSolver(lam=1e-1).solve(*qr_system(A, y + 1000.0)[:2]).coefficients
    assert not np.allclose(c2[:-1], c1[:-1], rtol=1e-3)


def test_unpenalized_with_tiny_lambda_is_still_least_squares():
    A, _, y = random_problem(noise=0.1, seed=12)
    free = np.zeros(A.shape[1], dtype=bool)
    free[[0, 5]] = True
    R, qty, rss0 = qr_system(A, y)
    c = RidgeSolver(lam=1e-13).solve(R, qty, rss0=rss0, unpenalized=free).coefficients
    np.testing.assert_allclose(c, np.linalg.lstsq(A, y, rcond=None)[0], rtol=1e-8)


def test_collinear_e0_columns_constant_composition():
    """All configurations with one composition (a molecule): the E0 columns are collinear.
    The fit must stay finite and predict the data; E0 gets the minimum-norm split."""
    from ace_lin.fit.solvers import make_solver

    rng = np.random.default_rng(0)
    m, k = 200, 12
    B = rng.normal(size=(m, k))
    comp = np.tile([2.0, 6.0, 1.0], (m, 1)) / 9.0  # C2H6O, per-atom energy rows
    A = np.hstack([B, comp])
    c_true = rng.normal(size=k)
    y = B @ c_true + comp @ np.array([-150.0, -13.0, -430.0])
    Q, R = np.linalg.qr(A)
    free = np.r_[np.zeros(k, bool), np.ones(3, bool)]
    sol = make_solver("ridge", lam=1e-12).solve(R, Q.T @ y, n_rows=m, unpenalized=free)
    c = sol.coefficients
    assert np.all(np.isfinite(c)) and np.abs(c[k:]).max() < 1e4
    np.testing.assert_allclose(A @ c, y, atol=1e-6)
    assert sol.info["n_e0_not_identifiable"] == 2


def test_singular_values_and_projection_match_the_svd():
    """The vector-free bidiagonal route gives the SVD's singular values and U^T q, and for
    a tall matrix the part of q outside its range."""
    from ace_lin.fit._bidiag import singular_values_and_projection

    rng = np.random.default_rng(5)
    for m, n in ((40, 40), (60, 25), (1, 1), (25, 60), (1, 4)):
        X = rng.normal(size=(m, n)) * np.logspace(0, -8, n)
        q = rng.normal(size=m)
        s, z, outside = singular_values_and_projection(X, q)
        U, s_ref, _ = np.linalg.svd(X, full_matrices=False)
        z_ref = U.T @ q
        np.testing.assert_allclose(s, s_ref, rtol=1e-12)
        # singular vectors are defined up to sign
        np.testing.assert_allclose(np.abs(z), np.abs(z_ref), rtol=1e-9, atol=1e-12)
        assert outside == pytest.approx(q @ q - z_ref @ z_ref, rel=1e-9, abs=1e-12)
        assert s.size == min(m, n)
    with pytest.raises(ValueError, match="entries"):
        singular_values_and_projection(np.ones((2, 3)), np.ones(3))


def _underdetermined_system(m=120, p=300, seed=8):
    """The streamed factor of fewer rows than columns (p x p, rows m.. round-off only),
    as the assembly delivers it for a large basis and few configurations."""
    from ace_lin.fit.assemble import StreamingQR

    A, _, y = random_problem(n=m, p=p, noise=0.05, seed=seed, spread=2.0)
    A[:, -1] = 1.0   # an E0-like flat-prior column
    acc = StreamingQR(p)
    for rows in np.array_split(np.arange(m), 3):
        acc.add(A[rows], y[rows])
    F = acc.factor()
    return A, y, F[:p, :p], F[:p, p], float(F[p, p] ** 2)


def test_large_p_evidence_path_agrees_with_the_dense_one():
    """With fewer data rows than functions, the evidence works on the m data rows of the
    factor (O(m^2 p)); it agrees with the dense route on all p rows (the square SVD of the
    p x p factor, as in the BLR solve) and with the evidence computed from A itself."""
    from ace_lin.fit import solvers

    m, p = 120, 300
    A, y, R, qty, rss0 = _underdetermined_system(m, p)
    X, q, r0 = solvers.data_rows(R, qty, rss0)
    assert X.shape == (m, p) and r0 >= rss0
    free = np.zeros(p, dtype=bool)
    free[-1] = True
    gamma = np.linspace(1.0, 4.0, p)
    blr = BLRSolver(tol=1e-10)
    kw = dict(gamma=gamma, n_rows=m, rss0=rss0, unpenalized=free)
    fast = blr.log_evidence(R, qty, **kw)
    sol = blr.solve(R, qty, **kw)
    # dense reference: every row of the p x p factor, square SVD, no trimming
    red = blr._reduce(R, qty, gamma, m, rss0, free)
    U, sig, Vt, z, r_all = solvers._svd_z(red.X, red.q, red.rss0)
    assert sig.size == red.X.shape[1]
    dense = solvers._evidence_fit(sig, z, red.n, r_all, blr.max_iter, blr.tol)
    assert fast == pytest.approx(dense["log_evidence"], rel=1e-9, abs=1e-7)
    assert sol.info["log_evidence"] == pytest.approx(dense["log_evidence"], rel=1e-9, abs=1e-7)
    w_dense = Vt.T @ (sig / (sig * sig + dense["lam"]) * z)
    np.testing.assert_allclose(sol.coefficients, red.coefficients(w_dense), rtol=1e-6,
                               atol=1e-9 * np.abs(sol.coefficients).max())
    # and from the design matrix itself (QR of A: m x p, no streamed factor)
    Q, Rm = np.linalg.qr(A)
    ref = blr.log_evidence(np.vstack([Rm, np.zeros((p - m, p))]),
                           np.r_[Q.T @ y, np.zeros(p - m)], **kw)
    assert fast == pytest.approx(ref, rel=1e-9, abs=1e-7)


def test_log_evidence_without_coefficients_equals_the_solve():
    """BLRSolver.log_evidence (no singular vectors) is the log evidence of solve(), also
    with a flat-prior column, an all-zero column (inactive, X tall) and no scaling."""
    A, _, y = random_problem(n=400, p=30, noise=0.2, seed=21)
    A[:, -1] = 1.0
    A[:, 3] = 0.0
    free = np.zeros(30, dtype=bool)
    free[-1] = True
    gamma = np.linspace(1.0, 5.0, 30)
    R, qty, rss0 = qr_system(A, y)
    for scaling in (True, False):
        s = BLRSolver(tol=1e-10, column_scaling=scaling)
        kw = dict(gamma=gamma, n_rows=400, rss0=rss0, unpenalized=free)
        sol = s.solve(R, qty, **kw)
        assert sol.info["n_inactive"] == 1
        assert s.log_evidence(R, qty, **kw) == pytest.approx(sol.info["log_evidence"], rel=1e-10)
    # the inactive column changes nothing: the same evidence as without it
    keep = np.arange(30) != 3
    R2, qty2, rss02 = qr_system(A[:, keep], y)
    ev2 = BLRSolver(tol=1e-10).log_evidence(R2, qty2, gamma=gamma[keep], n_rows=400,
                                            rss0=rss02, unpenalized=free[keep])
    ev = BLRSolver(tol=1e-10).log_evidence(R, qty, gamma=gamma, n_rows=400, rss0=rss0,
                                           unpenalized=free)
    assert ev == pytest.approx(ev2, rel=1e-10)
