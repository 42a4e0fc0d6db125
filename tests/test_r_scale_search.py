"""The r_scale search (fit/r_scale_search.py): parts, when it runs, and that the evidence finds
the transform that generated the data (needs the core)."""
import numpy as np
import pytest

pytest.importorskip("ace_lin._core")

from ace_lin import ACECalculator, BasisSpec, LinearACEModel  # noqa: E402
from ace_lin.fit.r_scale_search import COARSE, REFINE, next_factor, parts  # noqa: E402
from ace_lin.fit.search import is_auto  # noqa: E402

from helpers import labels, synthetic_structures as structures, write_exact_extxyz  # noqa: E402

SPEC = dict(order=3, degree=7, r_cut=4.0, r_in=1.11, r_core=1.554)


def test_parts_interleave_and_cover():
    configs = list(range(40))
    a, b = parts(configs)
    assert sorted(a + b) == configs
    assert (len(a), len(b)) == (5, 35)
    assert a[:3] == [0, 8, 16] and b[:3] == [1, 2, 3]  # every part spans the whole file
    assert parts(configs[:11]) == [configs[:11], []]  # small sets: all data at every stage


@pytest.mark.parametrize("fields, expected", [({}, True), ({"r_scale": None}, True),
                                              ({"r_scale": "auto"}, True), ({"r_scale": " Auto "}, True),
                                              ({"r_scale": 3.0}, False),
                                              ({"r_scale": {"Si-Si": 3.0}}, False)])
def test_r_scale_left_open(fields, expected):
    assert is_auto(fields.get("r_scale"), absent=True) is expected


LOW, MID, HIGH = COARSE


@pytest.mark.parametrize("evidence, expected", [
    ((1.0, 3.0, 2.0), MID * REFINE),     # best inside: towards the better neighbour
    ((2.0, 3.0, 1.0), MID / REFINE),
    ((10.0, 6.0, 0.0), LOW / REFINE),    # best at an end, vertex beyond it: outwards
    ((10.0, 9.0, 0.0), LOW * REFINE),    # vertex between the end and the middle: inwards
    ((10.0, 5.0, 4.0), LOW / REFINE),    # curving upwards: no maximum in sight, outwards
    ((0.0, 6.0, 10.0), HIGH * REFINE),
    ((0.0, 9.0, 10.0), HIGH / REFINE)])
def test_fourth_candidate_steps_towards_the_parabola_vertex(evidence, expected):
    assert next_factor(dict(zip(COARSE, evidence))) == pytest.approx(expected, rel=1e-15)


def _data_with_factor(tmp, factor):
    """Training file and fit config of a random model whose r_scale is factor x the
    covalent default."""
    rng = np.random.default_rng(7)
    default = BasisSpec(elements=["Si"], **SPEC).r_scale["Si-Si"]
    spec = BasisSpec(elements=["Si"], r_scale=factor * default, **SPEC)
    c_true = rng.normal(size=spec.n_basis) * 0.2
    calc = ACECalculator(LinearACEModel(spec, c_true, e0={"Si": -3.0}))
    frames = structures(rng) + structures(rng)[:4]
    results = labels(frames, calc)
    write_exact_extxyz(tmp / "train.xyz", frames, results)
    cfg = {"data": {"train": str(tmp / "train.xyz")}, "elements": ["Si"], "e0": "fit",
           "basis": dict(SPEC), "output": str(tmp / "model.json")}
    return c_true, spec, cfg


@pytest.fixture(scope="module")
def made_with_wide_transform(tmp_path_factory):
    """Data of a random model whose r_scale is 2.83 x the covalent default."""
    return _data_with_factor(tmp_path_factory.mktemp("transform"), HIGH)


def test_search_leaves_the_grid_when_the_evidence_keeps_rising(tmp_path):
    """Data made with 1/2.83/1.68 x the default, outside the coarse grid: the search must
    step out to it (an inward fourth step would stop at 1/2.83)."""
    from ace_lin.fit.driver import fit

    *_, cfg = _data_with_factor(tmp_path, LOW / REFINE)
    _, report = fit(cfg)
    assert report.r_scale_search["factor"] == pytest.approx(LOW / REFINE, rel=1e-12)
    tried = [(t["stage"], t["factor"]) for t in report.r_scale_search["tried"]]
    assert [f for stage, f in tried if stage == "A"] == pytest.approx(
        list(COARSE) + [LOW / REFINE], rel=1e-12)
    assert sorted(f for stage, f in tried if stage == "all") == pytest.approx(
        [LOW / REFINE, LOW], rel=1e-12)


def test_search_finds_the_generating_transform(made_with_wide_transform):
    from ace_lin.fit.driver import fit

    c_true, spec, cfg = made_with_wide_transform
    model, report = fit(cfg)
    assert report.r_scale_search["factor"] == pytest.approx(COARSE[2])
    assert model.spec.r_scale["Si-Si"] == pytest.approx(spec.r_scale["Si-Si"], rel=1e-12)
    # in the model space: the coefficients come back (test_fit_synthetic holds 1e-6 for
    # the default transform; this wider one is a little worse conditioned)
    assert np.linalg.norm(model.coefficients - c_true) / np.linalg.norm(c_true) < 1e-5
    stages = [t["stage"] for t in report.r_scale_search["tried"]]
    assert stages == ["A"] * 4 + ["all"] * 2  # 14 configurations: both stages ran
    assert model.metadata["fit"]["r_scale_search"]["factor"] == report.r_scale_search["factor"]


def test_search_system_equals_one_shot_assembly(made_with_wide_transform):
    """The winner's full system is folded from its two part systems; it must be the
    system a plain assembly of all training data gives."""
    from ace_lin.fit.problem import assemble_problem, prepare
    from ace_lin.fit.r_scale_search import settle_r_scale

    *_, cfg = made_with_wide_transform
    problem, system = settle_r_scale(prepare(cfg))
    direct = assemble_problem(problem, problem.train)
    assert system.n_rows == direct.n_rows
    gram, gram_direct = system.R.T @ system.R, direct.R.T @ direct.R
    assert np.allclose(gram, gram_direct, rtol=1e-10, atol=1e-10 * np.abs(gram_direct).max())
    assert np.allclose(system.R.T @ system.qty, direct.R.T @ direct.qty, rtol=1e-10,
                       atol=1e-10 * np.abs(direct.R.T @ direct.qty).max())


def test_given_r_scale_is_final(made_with_wide_transform):
    from ace_lin.fit.driver import fit

    _, _, cfg = made_with_wide_transform
    cfg = dict(cfg, basis=dict(cfg["basis"], r_scale=1.7), output=cfg["output"] + ".given.json")
    model, report = fit(cfg)
    assert report.r_scale_search is None and model.spec.r_scale["Si-Si"] == 1.7
    assert model.metadata["fit"]["r_scale_search"] is None


def test_unknown_r_scale_word_is_a_clear_error(made_with_wide_transform):
    from ace_lin.fit.config import ConfigError
    from ace_lin.fit.problem import prepare

    *_, cfg = made_with_wide_transform
    with pytest.raises(ConfigError, match=r"section 'basis'.*r_scale.*'wide'"):
        prepare(dict(cfg, basis=dict(cfg["basis"], r_scale="wide")))
    covalent = prepare(dict(cfg, basis=dict(cfg["basis"], r_scale="covalent")))
    assert not covalent.r_scale_open
    assert covalent.spec.r_scale == BasisSpec(elements=["Si"], **SPEC).r_scale


@pytest.mark.mpi
def test_fit_under_mpirun_equals_serial(tmp_path):
    """2 ranks share every assembly of the search and of the fit: same transform, same
    coefficients as one process."""
    import json
    import os
    import shutil
    import subprocess
    import sys

    pytest.importorskip("mpi4py")
    if shutil.which("mpirun") is None:
        pytest.skip("mpirun not found")
    data = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "data")
    models = {}
    for name, launcher in (("serial", []), ("mpi", ["mpirun", "-n", "2"])):
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(json.dumps({"data": {"train": f"{data}/Si_train.xyz"},
                                   "basis": {"size": "small", "degree": [10, 10, 8, 6]},
                                   "output": str(tmp_path / f"{name}.json")}))
        run = subprocess.run(launcher + [sys.executable, "-m", "ace_lin.cli.main", "fit", str(cfg),
                                         "--no-progress"], capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        with open(tmp_path / f"{name}.json") as fh:
            models[name] = json.load(fh)
    s, m = models["serial"], models["mpi"]
    assert m["metadata"]["fit"]["r_scale_search"]["factor"] == s["metadata"]["fit"]["r_scale_search"]["factor"]
    np.testing.assert_allclose(m["coefficients"], s["coefficients"], rtol=1e-8,
                               atol=1e-8 * np.abs(s["coefficients"]).max())


def test_large_basis_path_picks_on_part_a_and_keeps_the_start_exponent(
        made_with_wide_transform, monkeypatch):
    """Above LARGE_P functions (here forced with LARGE_P = 0) the search scores part A
    only, completes the winner on part B, and the prior search scores nothing; the
    winner's folded system is still the one-shot assembly, and the data's transform is
    still found (it is clear on part A already)."""
    from ace_lin.fit import search
    from ace_lin.fit.driver import fit
    from ace_lin.fit.problem import assemble_problem, prepare
    from ace_lin.fit.r_scale_search import settle_r_scale

    c_true, spec, cfg = made_with_wide_transform
    monkeypatch.setattr(search, "LARGE_P", 0)
    problem, system = settle_r_scale(prepare(cfg))
    direct = assemble_problem(problem, problem.train)
    assert system.n_rows == direct.n_rows
    gram, gram_direct = system.R.T @ system.R, direct.R.T @ direct.R
    assert np.allclose(gram, gram_direct, rtol=1e-10, atol=1e-10 * np.abs(gram_direct).max())
    model, report = fit(dict(cfg, output=cfg["output"] + ".large.json"))
    assert report.r_scale_search["factor"] == pytest.approx(COARSE[2])
    assert [t["stage"] for t in report.r_scale_search["tried"]] == ["A"] * 4
    assert report.r_scale_search["log_evidence"] is None
    assert report.prior_search["tried"] == [] and report.prior_search["p"] == 3.0
    assert "n_basis > 0" in report.prior_search["skipped"]
    assert np.linalg.norm(model.coefficients - c_true) / np.linalg.norm(c_true) < 1e-5
