"""Folding new labelled frames into a fitted model (learn/update.py) equals fitting all the
data at once with the same basis, without reassembling the old rows."""
from dataclasses import replace

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from ace_lin.fit.assemble import StreamingQR
from ace_lin.fit.prior_search import settle_prior
from ace_lin.fit.problem import assemble_problem, prepare, solve_problem
from ace_lin.learn.config import parse
from ace_lin.learn.journal import Journal, extxyz_text
from ace_lin.learn.update import Refitter
from ace_lin.trust.fitstate import fitstate_path, read_fitstate

BASIS = {"order": 3, "degree": 8, "r_cut": 4.5}


def emt_frames(n, seed):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        a = bulk("Cu", "fcc", a=3.59 * (1 + rng.uniform(-0.03, 0.03)), cubic=True)
        a.positions += rng.normal(0, 0.05 + 0.01 * i, a.positions.shape)
        b = a.copy()
        b.calc = EMT()
        a.calc = SinglePointCalculator(a, energy=b.get_potential_energy(), forces=b.get_forces(),
                                       stress=b.get_stress())
        out.append(a)
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("update")
    frames = emt_frames(12, 0)
    write(d / "start.extxyz", frames[:8])
    write(d / "all.extxyz", frames)
    raw = {"fit": {"data": {"train": "start.extxyz"}, "basis": dict(BASIS),
                   "assembly": {"progress": False}},
           "oracle": {"calculator": "ase.calculators.emt.EMT"}, "structures": "start.extxyz",
           "output": "run"}
    cfg = parse(raw, str(d))
    refit = Refitter(cfg, str(d / "run" / "model.json"), str(d / "run" / "labelled.extxyz"))
    refit.ensure_initial()
    return d, frames, refit


def test_fold_equals_a_fit_of_all_the_data_with_the_same_basis(run, monkeypatch):
    d, frames, refit = run
    journal = Journal(refit.labelled_path)
    for k, a in enumerate(frames[8:]):
        journal.append((0, k), extxyz_text(a))
    calls = []
    original = StreamingQR.add_rows

    def counting(self, block):
        calls.append(block.shape[0])
        return original(self, block)

    monkeypatch.setattr(StreamingQR, "add_rows", counting)
    refit.catch_up(len(journal))
    monkeypatch.undo()
    model = refit.model()
    # only the new frames' rows were assembled: 4 frames of 4 atoms, E + 12 F + 6 stress rows
    assert sum(calls) == 4 * (1 + 12 + 6)
    assert model.metadata["active_learning"]["labels_folded"] == 4
    problem = prepare({"data": {"train": str(d / "all.extxyz")}, "basis": dict(BASIS),
                       "assembly": {"progress": False}, "output": str(d / "ref.json")})
    problem = replace(problem, spec=model.spec, basis=model.spec.basis(), r_scale_open=False)
    system = assemble_problem(problem, problem.train)
    problem = settle_prior(problem, system)
    ref, _ = solve_problem(problem, system)
    assert problem.prior.p == model.metadata["active_learning"]["prior"]["p"]
    scale = np.abs(ref.coefficients).max()
    assert np.abs(ref.coefficients - model.coefficients).max() < 1e-7 * scale
    assert ref.e0["Cu"] == pytest.approx(model.e0["Cu"], abs=1e-7)
    # the updated model's errors on all 12 frames it holds, not the first fit's on 8
    from ace_lin.calculator import ACECalculator
    errs = model.metadata["active_learning"]["train_errors"]
    assert errs["n_configs"] == 12 and model.metadata["fit"]["train_errors"]["n_configs"] == 8
    calc = ACECalculator(model, grade=False)
    df = np.concatenate([(calc.get_forces(a) - a.get_forces()).ravel() for a in frames])
    # (the labelled frames went through extxyz text: positions to ~1e-8 relative)
    assert errs["force_rmse"] == pytest.approx(np.sqrt(np.mean(df ** 2)), rel=1e-6)
    # the posterior and the active set came along
    assert model.posterior is not None and model.has_active_set
    gamma = model.grade(frames[10], 0)
    assert gamma.max() <= 1 + 1e-8


def test_catch_up_is_idempotent_and_repairs_a_model_behind_its_fit_state(run):
    d, frames, refit = run
    n = len(Journal(refit.labelled_path))
    before = refit.model().coefficients.copy()
    refit.catch_up(n)        # nothing new: no change
    assert np.array_equal(refit.model().coefficients, before)
    # a kill after the fit state was written but before the model: the model is one
    # fold behind; catch_up re-solves from the fit state without folding again
    state = read_fitstate(fitstate_path(refit.model_path))
    model = refit.model()
    meta = dict(model.metadata, active_learning=dict(model.metadata["active_learning"], labels_folded=0))
    type(model)(model.spec, model.coefficients * 0.5, e0=model.e0, metadata=meta).save(refit.model_path)
    refit._model = None
    refit.catch_up(n)
    assert read_fitstate(fitstate_path(refit.model_path)).n_rows == state.n_rows
    assert np.allclose(refit.model().coefficients, before, rtol=0, atol=1e-9 * np.abs(before).max())
    with pytest.raises(ValueError, match="holds 4 labels"):
        refit.catch_up(2)
