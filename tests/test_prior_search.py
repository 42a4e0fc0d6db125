"""The prior exponent search (fit/prior_search.py): the fourth exponent, and that the
evidence finds the exponent of the prior that generated the coefficients (needs the core)."""
import numpy as np
import pytest

from ace_lin.fit.prior_search import HIGH, LOW, START, choose_power, next_power
from ace_lin.fit.search import is_auto

SPEC = dict(order=3, degree=10, r_cut=4.0, r_in=1.11, r_core=1.554)
E0 = -3.0


@pytest.mark.parametrize("evidence, expected", [
    ((0.0, 3.0, 2.0), 3.25),     # maximum inside: the parabola's vertex
    ((10.0, 6.0, 0.0), LOW),     # vertex below the range (0.5): clipped
    ((0.0, 6.0, 10.0), HIGH),    # vertex above it (5.5): clipped
    ((10.0, 5.0, 4.0), LOW),     # curving upwards: the better end
    ((4.0, 5.0, 10.0), HIGH),
    ((1.0, 3.0, 2.0), None)])    # vertex 3.17: too close to 3 to be worth an evaluation
def test_fourth_exponent_is_the_clipped_vertex(evidence, expected):
    assert next_power(dict(zip(START, evidence))) == expected


def test_each_exponent_scored_once_and_the_best_wins():
    calls = []

    def score(p):
        calls.append(p)
        return -(p - 1.5) ** 2

    best, tried = choose_power(score, known={3.0: -(3.0 - 1.5) ** 2})
    assert calls == [2.0, 4.0, 1.5]  # 3 was known; a parabola's vertex is exact
    assert best == 1.5
    assert [(t["p"], t["known"]) for t in tried] == [(3.0, True), (2.0, False), (4.0, False),
                                                     (1.5, False)]


@pytest.mark.parametrize("value, expected", [("auto", True), (" Auto ", True), (3.0, False),
                                             ("3", False)])
def test_prior_exponent_left_open(value, expected):
    assert is_auto(value) is expected


def _data_from_prior(tmp, p_true, seed=3):
    """Training file and fit config of a model whose coefficients are drawn from the fit's
    own prior with exponent p_true: w ~ N(0, 1) on the column-scaled coefficients, c = w /
    (s gamma) with s the data norm of each column (fit/solvers.py)."""
    from ace_lin import ACECalculator, BasisSpec, LinearACEModel
    from ace_lin.fit.problem import assemble_problem, prepare
    from ace_lin.fit.prior import SmoothnessPrior

    from helpers import labels, synthetic_structures, write_exact_extxyz

    rng = np.random.default_rng(seed)
    spec = BasisSpec(elements=["Si"], **SPEC)
    frames = synthetic_structures(rng) + synthetic_structures(rng) + synthetic_structures(rng)
    cfg = {"data": {"train": str(tmp / "train.xyz")}, "elements": ["Si"], "e0": {"Si": E0},
           "basis": dict(SPEC, r_scale="covalent"), "output": str(tmp / "model.json")}
    # the column norms depend on the structures and weights only: any labels will do
    placeholder = LinearACEModel(spec, np.zeros(spec.n_basis), e0={"Si": E0})
    reference = labels(frames, ACECalculator(placeholder))  # E0 and the ZBL core only
    write_exact_extxyz(tmp / "train.xyz", frames, reference)
    problem = prepare(cfg)
    s = np.linalg.norm(assemble_problem(problem, problem.train).R, axis=0)
    gamma = SmoothnessPrior(p=p_true).gamma(problem.basis.degree)
    c = rng.normal(size=spec.n_basis) / (s * gamma)
    results = labels(frames, ACECalculator(LinearACEModel(spec, c, e0={"Si": E0})))
    # noise as the fit's likelihood has it: one sigma in every weighted row (fit/weights.py:
    # E/N rows weight 30 sqrt(N), force rows 1, stress rows (V/N) sqrt(N)), 1 % of the
    # spread of the ACE part of the forces
    sigma = 0.01 * np.std(np.concatenate([np.ravel(r["forces"] - q["forces"])
                                          for r, q in zip(results, reference)]))
    for a, r in zip(frames, results):
        n = len(a)
        r["energy"] += sigma * np.sqrt(n) / 30.0 * rng.normal()
        r["forces"] = r["forces"] + sigma * rng.normal(size=r["forces"].shape)
        if "stress" in r:
            r["stress"] = r["stress"] + sigma * np.sqrt(n) / a.get_volume() * rng.normal(size=6)
    write_exact_extxyz(tmp / "train.xyz", frames, results)
    return cfg


@pytest.mark.parametrize("p_true, lowest, highest", [(1.2, 1.0, 1.5), (4.8, 4.0, 5.0)])
def test_search_finds_the_generating_exponent(tmp_path, p_true, lowest, highest):
    """Both fail with a fixed p = 3; the bounds allow for the scatter of one draw."""
    pytest.importorskip("ace_lin._core")
    from ace_lin.fit.driver import fit

    cfg = _data_from_prior(tmp_path, p_true)
    model, report = fit(cfg)
    search = report.prior_search
    assert lowest <= search["p"] <= highest
    scores = {t["p"]: t["log_evidence"] for t in search["tried"]}
    assert search["p"] == max(scores, key=scores.get)
    assert model.metadata["fit"]["prior"]["p"] == search["p"]
    assert model.metadata["fit"]["prior_search"] == search
    # the chosen exponent, given explicitly, is the same fit (bit for bit), without a search
    cfg = dict(cfg, solver={"prior": {"p": search["p"]}}, output=cfg["output"] + ".fixed.json")
    fixed, report_fixed = fit(cfg)
    assert report_fixed.prior_search is None
    assert np.array_equal(fixed.coefficients, model.coefficients)
