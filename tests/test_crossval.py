"""Cross-validation pieces: the stratified fold split and the exact merge of fold systems."""
import numpy as np
import pytest

from ace_lin.fit.assemble import LinearSystem, StreamingQR
from ace_lin.fit.assemble import merge_systems
from ace_lin.fit.crossval import fold_labels


def test_fold_labels_are_stratified_deterministic_and_cover_all():
    types = ["a"] * 11 + ["b"] * 7 + ["c"] * 2 + ["d"] * 1
    labels = fold_labels(types, 4, seed=3)
    np.testing.assert_array_equal(labels, fold_labels(types, 4, seed=3))
    assert not np.array_equal(labels, fold_labels(types, 4, seed=4))
    assert set(labels) == {0, 1, 2, 3}
    for name in "abcd":  # each group spread as evenly as possible over the folds
        counts = np.bincount(labels[np.array(types) == name], minlength=4)
        assert counts.max() - counts.min() <= 1
    # small groups continue the round robin instead of all landing in fold 0
    sizes = np.bincount(labels, minlength=4)
    assert sizes.max() - sizes.min() <= 1


@pytest.mark.parametrize("types, k", [(["a"] * 5, 1), (["a"] * 3, 4)])
def test_fold_labels_reject_impossible_splits(types, k):
    with pytest.raises(ValueError, match="fold"):
        fold_labels(types, k)


def _system(A, y):
    acc = StreamingQR(A.shape[1])
    acc.add(A, y)
    return LinearSystem.from_factor(acc.factor(), A.shape[0], A.shape[1] - 1, ["Si"],
                                    {"energy": 1, "forces": A.shape[0] - 1})


def test_merged_fold_systems_equal_the_system_of_all_rows():
    rng = np.random.default_rng(0)
    parts = [(rng.normal(size=(m, 6)), rng.normal(size=m)) for m in (9, 4, 13)]
    merged = merge_systems([_system(A, y) for A, y in parts])
    whole = _system(np.vstack([A for A, _ in parts]), np.concatenate([y for _, y in parts]))
    np.testing.assert_allclose(merged.R, whole.R, rtol=0, atol=1e-12)
    np.testing.assert_allclose(merged.qty, whole.qty, rtol=0, atol=1e-12)
    assert merged.rss0 == pytest.approx(whole.rss0, rel=1e-12)
    assert merged.n_rows == 26 and merged.counts["energy"] == 3


def test_merge_refuses_systems_with_different_columns():
    rng = np.random.default_rng(1)
    a = _system(rng.normal(size=(8, 5)), rng.normal(size=8))
    b = _system(rng.normal(size=(8, 6)), rng.normal(size=8))
    with pytest.raises(ValueError, match="different columns"):
        merge_systems([a, b])


def test_held_out_predictions_equal_a_fit_without_that_fold():
    """The merged-factor shortcut must give the same model as assembling the other folds
    directly; a leak of the held-out rows into the fit would change the predictions."""
    import os

    pytest.importorskip("ace_lin._core")
    from ace_lin.calculator import ACECalculator
    from ace_lin.fit.crossval import cross_validate
    from ace_lin.fit.prior_search import settle_prior
    from ace_lin.fit.problem import assemble_problem, prepare, solve_problem
    from ace_lin.fit.r_scale_search import settle_r_scale
    from ace_lin.fit.metrics import predict

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cfg = os.path.join(root, "examples", "fit_si.yaml")
    cv = cross_validate(cfg, k=4, seed=2)
    problem, _ = settle_r_scale(prepare(cfg))  # the r_scale the CV chose, once, on all data
    held = np.flatnonzero(cv.labels == 1)
    rest = [problem.train[i] for i in np.flatnonzero(cv.labels != 1)]
    system = assemble_problem(problem, rest)
    # the prior exponent is chosen per fold, from the fold's training part only
    fold_problem = settle_prior(problem, system)
    assert fold_problem.prior.p == cv.folds[1]["prior_p"]
    model, _ = solve_problem(fold_problem, system)
    direct = predict([problem.train[i] for i in held], ACECalculator(model))
    for i, d in zip(held, direct):
        n = problem.train[i].n_atoms
        assert cv.predictions[i].energy / n == pytest.approx(d.energy / n, abs=1e-6)  # eV/atom
        np.testing.assert_allclose(cv.predictions[i].forces, d.forces, atol=1e-5)    # eV/A
    # held-out errors are larger than the training errors of a fit on everything
    assert cv.errors["energy_mae"] > 0.1 and cv.errors["force_mae"] > 0.01


@pytest.mark.mpi
def test_cv_under_mpirun_equals_serial():
    """2 ranks share every fold's assembly and the solves; the errors must not change."""
    import json
    import os
    import shutil
    import subprocess
    import sys

    pytest.importorskip("ace_lin._core")
    pytest.importorskip("mpi4py")
    if shutil.which("mpirun") is None:
        pytest.skip("mpirun not found")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cmd = [sys.executable, "-m", "ace_lin.cli.main", "cv", os.path.join(root, "examples", "fit_si.yaml"),
           "--folds", "3", "--json", "--no-progress"]
    serial = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert serial.returncode == 0, serial.stderr
    par = subprocess.run(["mpirun", "-n", "2"] + cmd, capture_output=True, text=True, timeout=300)
    assert par.returncode == 0, par.stderr
    a, b = json.loads(serial.stdout), json.loads(par.stdout)  # one JSON object: rank 0 only
    for key in ("energy_mae", "energy_rmse", "force_mae", "force_rmse"):
        assert b["errors"][key] == pytest.approx(a["errors"][key], rel=1e-8)
    assert [f["n_configs"] for f in b["folds"]] == [f["n_configs"] for f in a["folds"]]
