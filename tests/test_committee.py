"""Bayesian posterior (fit/solvers.py BLRSolver.posterior, trust/committee.py) and the
committee of ACECalculator: covariance equal to the inverse posterior precision, committee
mean equal to the posterior-mean prediction, spreads from design rows equal to the spread
of the members' own predictions, seeded reproducibility; the fit keeps the posterior, the
active set and the fit state."""
import os

import numpy as np
import pytest

from ace_lin import ACECalculator, BasisSpec, LinearACEModel, load_model
from ace_lin.fit.solvers import BLRSolver
from ace_lin.trust.committee import Posterior, lower_factor
from helpers import labels, random_model, synthetic_structures, write_exact_extxyz

SPEC = dict(order=3, degree=7, r_cut=4.0, r_in=1.11, r_core=1.554)


def test_posterior_is_the_inverse_precision():
    """Sigma = (beta R^T R + alpha D^2)^-1 in the original columns (D: column scale x prior
    gamma on the penalized active columns, 0 on the flat-prior E0 columns), with mean
    Sigma beta R^T qty = the solver's coefficients."""
    rng = np.random.default_rng(1)
    n, p = 300, 14
    A = rng.normal(size=(n, p)) * np.logspace(0, -3, p)
    A[:, -2:] = rng.integers(1, 5, size=(n, 2))  # two E0-like count columns
    y = A @ rng.normal(size=p) + 0.05 * rng.normal(size=n)
    Q, R = np.linalg.qr(A)
    qty = Q.T @ y
    kw = dict(gamma=np.linspace(1, 3, p), n_rows=n, rss0=float(y @ y - qty @ qty),
              unpenalized=np.r_[np.zeros(p - 2, bool), True, True])
    solver = BLRSolver()
    solution, F = solver.posterior(R, qty, **kw)
    assert np.array_equal(solution.coefficients, solver.solve(R, qty, **kw).coefficients)
    red = solver._reduce(R, qty, kw["gamma"], n, kw["rss0"], kw["unpenalized"])
    D = np.zeros(p)
    D[red.pen[red.act2]] = red.d[red.act2]
    alpha, beta = solution.info["alpha"], solution.info["beta"]
    sigma = np.linalg.inv(beta * R.T @ R + alpha * np.diag(D ** 2))
    L = lower_factor(F)
    assert not np.any(np.triu(L, 1))
    assert np.allclose(L @ L.T, sigma, rtol=0, atol=1e-12 * np.abs(sigma).max())
    assert np.allclose(sigma @ (beta * R.T @ qty), solution.coefficients, rtol=1e-8,
                       atol=1e-10 * np.abs(solution.coefficients).max())


@pytest.fixture(scope="module")
def model_with_posterior():
    spec = BasisSpec(elements=("Si",), order=2, degree=[6, 6], r_cut=4.5)
    m = random_model(spec, seed=3)
    n = spec.n_basis + 1
    rng = np.random.default_rng(2)
    L = np.tril(rng.normal(size=(n, n))) * 0.01
    post = Posterior(mean=np.r_[m.coefficients, m.e0["Si"]], factor=L, e0_elements=["Si"])
    return m.with_trust(posterior=post)


def _structure(seed=0):
    from ase.build import bulk

    a = bulk("Si", "diamond", 5.43, cubic=True)
    a.rattle(0.1, seed=seed)
    return a


def test_committee_mean_is_the_model_and_its_spread_is_the_members(model_with_posterior):
    m = model_with_posterior
    k = 6
    calc = ACECalculator(m, committee=k, seed=7)
    atoms = _structure()
    atoms.calc = calc
    e, f = atoms.get_potential_energy(), atoms.get_forces()
    members = m.posterior.mean + calc.deviations
    assert np.allclose(members.mean(axis=0), m.posterior.mean, rtol=0, atol=1e-14)
    es, fs = [], []
    for c in members:  # each member as a model of its own
        x = atoms.copy()
        x.calc = ACECalculator(LinearACEModel(m.spec, c[:-1], e0={"Si": c[-1]}))
        es.append(x.get_potential_energy())
        fs.append(x.get_forces())
    es, fs = np.array(es), np.array(fs)
    scale_e, scale_f = abs(e) + 1, np.abs(f).max() + 1
    assert np.mean(es) == pytest.approx(e, abs=1e-10 * scale_e)   # committee mean = model
    assert np.allclose(fs.mean(axis=0), f, rtol=0, atol=1e-10 * scale_f)
    assert calc.results["energy_std"] == pytest.approx(np.std(es, ddof=1), rel=1e-8)
    assert np.allclose(calc.results["forces_std"], fs.std(axis=0, ddof=1), rtol=1e-7,
                       atol=1e-12 * scale_f)
    assert calc.results["forces_std"].shape == (len(atoms), 3)


def test_committee_is_reproducible_and_positive(model_with_posterior):
    m = model_with_posterior
    out = []
    for seed in (0, 0, 1):
        calc = ACECalculator(m, committee=True, seed=seed)
        atoms = _structure(1)
        atoms.calc = calc
        atoms.get_potential_energy()
        out.append((calc.results["energy_std"], calc.results["forces_std"]))
    assert out[0][0] == out[1][0] and np.array_equal(out[0][1], out[1][1])
    assert out[0][0] != out[2][0]
    assert out[0][0] > 0 and np.all(out[0][1] > 0)


def test_committee_errors(model_with_posterior):
    plain = random_model(model_with_posterior.spec)
    with pytest.raises(ValueError, match="posterior"):
        ACECalculator(plain, committee=True)
    for bad in (1, 0, -3, 2.5, "yes"):
        with pytest.raises(ValueError, match="committee"):
            ACECalculator(model_with_posterior, committee=bad)
    with pytest.raises(ValueError, match="posterior mean differs"):
        p = model_with_posterior.posterior
        plain.with_trust(posterior=p)
    with pytest.raises(ValueError, match="lower triangular"):
        Posterior(p.mean, p.factor.T, ["Si"])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A small fit of noisy synthetic data, with and without the trust part."""
    from ace_lin.fit.driver import fit

    tmp = tmp_path_factory.mktemp("trustfit")
    rng = np.random.default_rng(4)
    spec = BasisSpec(elements=["Si"], **SPEC)
    truth = LinearACEModel(spec, rng.normal(size=spec.n_basis) * 0.2, e0={"Si": -3.0})
    frames = synthetic_structures(rng)[:6]
    res = labels(frames, ACECalculator(truth))
    for r in res:  # noisy labels: a posterior of finite width
        r["forces"] = r["forces"] + rng.normal(scale=0.02, size=r["forces"].shape)
    write_exact_extxyz(tmp / "train.xyz", frames, res)
    cfg = {"data": {"train": str(tmp / "train.xyz")}, "elements": ["Si"], "e0": "fit",
           "basis": dict(SPEC), "solver": {"prior": {"p": 3}}, "output": str(tmp / "m.json")}
    model, report = fit(cfg)
    off = dict(cfg, trust={"active_set": False, "posterior": False}, output=str(tmp / "off.json"))
    plain, _ = fit(off)
    return frames, model, plain, tmp


def test_fit_keeps_posterior_active_set_and_state(fitted):
    from ace_lin.trust.fitstate import read_fitstate

    frames, model, plain, tmp = fitted
    back = load_model(tmp / "m.json")
    assert back.has_active_set and back.posterior is not None
    assert back.posterior.e0_elements == ["Si"]
    assert np.array_equal(back.posterior.mean[:-1], back.coefficients)
    assert back.posterior.mean[-1] == back.e0["Si"]
    for atoms in frames:
        assert back.grade(atoms).max() <= 1 + 1e-8
    calc = ACECalculator(back, committee=8)
    atoms = frames[0].copy()
    atoms.calc = calc
    atoms.get_potential_energy()
    assert 0 < calc.results["energy_std"] < 1 and calc.results["max_gamma"] <= 1 + 1e-8
    state = read_fitstate(tmp / "m.fitstate.npz", back.spec.spec_hash())
    p = back.spec.n_basis + 1
    assert state.R.shape == (p, p) and not np.any(np.tril(state.R, -1))
    assert state.e0_elements == ["Si"] and state.n_rows > p and state.hyper["beta"] > 0
    assert np.array_equal(state.active_set["Si"].G, back.active_set["Si"])
    # the state reproduces the fit: solving it again gives the model's coefficients
    sol = BLRSolver().solve(state.R, state.qty, gamma=state.gamma, n_rows=state.n_rows,
                            rss0=state.rss0, unpenalized=state.unpenalized)
    assert np.allclose(sol.coefficients[:-1], back.coefficients, rtol=1e-10, atol=1e-12)
    assert not plain.has_active_set and plain.posterior is None
    assert np.array_equal(plain.coefficients, model.coefficients)


def test_bad_fit_state_is_refused(fitted, tmp_path):
    from ace_lin.trust.fitstate import FitStateError, read_fitstate

    _, model, _, tmp = fitted
    with pytest.raises(FitStateError, match="not found"):
        read_fitstate(tmp_path / "none.fitstate.npz")
    bad = tmp_path / "bad.fitstate.npz"
    bad.write_bytes(open(tmp / "m.fitstate.npz", "rb").read()[:1000])
    with pytest.raises(FitStateError, match="not a readable fit state"):
        read_fitstate(bad)
    with pytest.raises(FitStateError, match="another basis"):
        read_fitstate(tmp / "m.fitstate.npz", "0" * 64)
    assert not [f for f in os.listdir(tmp) if f.endswith(".tmp")]  # atomic writes left nothing


def test_fit_with_a_non_bayesian_solver_has_no_posterior(fitted, tmp_path):
    from ace_lin.fit.driver import fit

    frames, model, _, tmp = fitted
    cfg = {"data": {"train": str(tmp / "train.xyz")}, "elements": ["Si"], "e0": "fit",
           "basis": dict(SPEC), "solver": {"kind": "ridge", "ridge_lambda": 1e-6,
                                           "prior": {"p": 3}},
           "output": str(tmp_path / "ridge.json")}
    ridge, _ = fit(cfg)
    assert ridge.posterior is None and ridge.has_active_set
    assert not ridge.metadata["trust"]["posterior"]
    with pytest.raises(ValueError, match="posterior"):
        ACECalculator(ridge, committee=True)


def test_fit_keeps_its_noise_model_and_predictive_spread(fitted):
    """The labels carry N(0, 0.02 eV/A) force noise: the fit's noise model recovers it, and
    the predictive spread adds it to the committee spread in quadrature."""
    frames, model, plain, tmp = fitted
    noise = load_model(tmp / "m.json").posterior.noise
    assert noise is not None and noise.forces_weight == 1.0 and noise.energy_weight == 30.0
    assert 0.014 < noise.forces_std() < 0.028
    assert noise.energy_std(64) == pytest.approx(8 * noise.forces_std() / 30.0)
    calc = ACECalculator(model, committee=8)
    atoms = frames[1].copy()
    atoms.calc = calc
    atoms.get_potential_energy()
    r = calc.results
    assert np.allclose(r["forces_std_predictive"] ** 2, r["forces_std"] ** 2 + noise.forces_std() ** 2)
    assert r["energy_std_predictive"] == pytest.approx(
        np.hypot(r["energy_std"], noise.energy_std(len(atoms))))


def test_model_file_checks_the_noise_model(fitted, tmp_path):
    import hashlib
    import json
    import re

    from ace_lin.io.model_file import ModelFileError

    def resign(data: bytes) -> bytes:
        m = re.search(rb'"checksum": \{"algorithm": "sha256", "value": "([0-9a-f]{64})"', data)
        zeroed = data[:m.start(1)] + b"0" * 64 + data[m.end(1):]
        return data[:m.start(1)] + hashlib.sha256(zeroed).hexdigest().encode() + data[m.end(1):]

    _, _, _, tmp = fitted
    text = (tmp / "m.json").read_text()
    doc = json.loads(text)
    assert set(doc["posterior"]["noise"]) == {"beta", "energy_weight", "forces_weight", "stress_weight"}
    for bad in ({"beta": -1.0}, {"beta": "x"}, {"extra": 1.0}):
        d = json.loads(text)
        d["posterior"]["noise"].update(bad)
        p = tmp_path / "bad.json"
        p.write_bytes(resign(json.dumps(d).encode()))
        with pytest.raises(ModelFileError, match="posterior.noise"):
            load_model(p)
