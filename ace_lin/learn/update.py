"""Update a fitted model with new labelled frames without reassembling the old data.

The fit state beside the model (trust/fitstate.py) holds the triangular factor of the
weighted least-squares system. New frames are assembled on their own and their factor is
folded into it (fit/assemble.py merge_systems: the result equals assembling all the data
at once up to round-off); the hyper-parameters that need no reassembly are chosen again on
the updated system: the BLR noise and prior precisions (evidence maximisation in the
solver) and, when the fit configuration leaves it open, the prior exponent
(fit/prior_search.py). r_scale stays that of the first fit: another r_scale is another
basis and would need every row again. The active sets take the new atoms' vectors by
MaxVol swaps (trust/activeset.py update_element), and the posterior is that of the
updated system.

The fit state records how many labels it holds (hyper["labels_folded"]) and is written
before the model, which records the same number in its metadata: a kill between the two
leaves a fit state ahead of the model, and the next catch_up re-solves from the fit state
without folding anything twice.
"""
import os
from dataclasses import replace

import numpy as np

from ace_lin.fit.assemble import LinearSystem, merge_systems
from ace_lin.fit.prior_search import settle_prior
from ace_lin.fit.problem import assemble_problem, prepare, solve_problem
from ace_lin.model import load_model
from ace_lin.trust.activeset import update_element
from ace_lin.trust.fitstate import FitState, fitstate_path, read_fitstate, write_fitstate
from ace_lin.trust.from_fit import fit_posterior
from ace_lin.trust.grade import element_columns, vectors_by_element

FOLDED = "labels_folded"


def _system(state: FitState) -> LinearSystem:
    return LinearSystem(R=state.R, qty=state.qty, rss0=state.rss0, n_rows=state.n_rows,
                        n_basis=state.n_basis, e0_elements=list(state.e0_elements))


class Refitter:
    """The model of an active-learning run and the labels folded into it.

    fit_raw: the fit configuration (mapping) of the first fit; model_path: where the run
    keeps its model; labelled_path: the extended-XYZ file of the labelled frames, in order.
    """

    def __init__(self, cfg, model_path: str, labelled_path: str):
        self.fit_raw = dict(cfg.fit, output=model_path)
        self.model_path = model_path
        self.state_path = fitstate_path(model_path)
        self.labelled_path = labelled_path
        self._model = None
        self._problem = None

    def ensure_initial(self, progress=False):
        """Fit the starting data once (again after a kill during that fit)."""
        if os.path.exists(self.model_path) and os.path.exists(self.state_path):
            return
        from ace_lin.fit.driver import fit

        cfg = dict(self.fit_raw)
        cfg["trust"] = dict(cfg.get("trust") or {}, active_set=True, posterior=True)
        fit(cfg, progress=progress)
        self._model = None

    def model(self):
        if self._model is None:
            self._model = load_model(self.model_path)
        return self._model

    def problem(self, spec):
        """The fitting problem of the first fit with its chosen basis (reads the starting
        data for the weights and E0 handling; assembles nothing)."""
        if self._problem is None:
            p = prepare(self.fit_raw)
            self._problem = replace(p, spec=spec, basis=spec.basis(), r_scale_open=False)
        return self._problem

    def folded(self) -> int:
        return int(read_fitstate(self.state_path).hyper.get(FOLDED, 0))

    def catch_up(self, n_labels: int):
        """Make the model hold exactly the first n_labels labelled frames."""
        model = self.model()
        state = read_fitstate(self.state_path, spec_hash=model.spec.spec_hash())
        done = int(state.hyper.get(FOLDED, 0))
        if done > n_labels:
            raise ValueError(f"{self.state_path}: holds {done} labels, the run only {n_labels}")
        if done < n_labels:
            state = self._fold(state, model, done, n_labels)
        if int(model.metadata.get("active_learning", {}).get(FOLDED, 0)) != n_labels:
            self._solve_and_save(state, model, n_labels)

    def _new_configs(self, start, stop):
        from ace_lin.data.read import read_configs

        configs = read_configs(self.labelled_path, elements=self.model().elements)
        if len(configs) < stop:
            raise ValueError(f"{self.labelled_path}: {len(configs)} frames, expected {stop}")
        return configs[start:stop]

    def _train_errors(self, model, problem, n_labels) -> dict:
        """Error table (fit/metrics.py units) of model on the starting data and the first
        n_labels labelled frames."""
        from ace_lin.calculator import ACECalculator
        from ace_lin.fit.metrics import error_table, predict

        configs = list(problem.train) + (self._new_configs(0, n_labels) if n_labels else [])
        calc = ACECalculator(model, grade=False,
                             n_threads=problem.cfg.assembly.n_threads or 0)
        return error_table(configs, predict(configs, calc))

    def _fold(self, state, model, start, stop) -> FitState:
        problem = self.problem(model.spec)
        new = self._new_configs(start, stop)
        merged = merge_systems([_system(state), assemble_problem(problem, new)])
        columns = element_columns(problem.basis, model.elements)
        vecs, _ = vectors_by_element(model.spec, [c.atoms for c in new], model.elements, columns)
        aset = dict(state.active_set)
        for el, rows in vecs.items():
            if el in aset:
                aset[el] = update_element(aset[el], rows)[0]
        state = replace(state, R=merged.R, qty=merged.qty, n_rows=merged.n_rows,
                        rss0=merged.rss0, active_set=aset,
                        hyper=dict(state.hyper, **{FOLDED: stop}))
        write_fitstate(self.state_path, state)
        return state

    def _solve_and_save(self, state, model, n_labels):
        problem = self.problem(model.spec)
        system = _system(state)
        problem = settle_prior(problem, system)
        new_model, solution, F = solve_problem(problem, system, posterior=True)  # one SVD
        mean = np.r_[new_model.coefficients, [new_model.e0[el] for el in problem.e0_fit]]
        posterior, hyper = fit_posterior(problem, system, mean,
                                         computed=(solution, F) if F is not None else None)
        # the "fit" block's errors are those of the first model: the updated model's
        # own errors on everything it was fitted to go in "active_learning"
        errors = self._train_errors(new_model, problem, n_labels)
        meta = dict(model.metadata)
        meta["active_learning"] = {FOLDED: int(n_labels), "rows": int(system.n_rows),
                                   "prior": problem.prior.to_dict(), "lambda": solution.lam,
                                   **{k: v for k, v in hyper.items() if k != "solver"},
                                   "train_errors": errors}
        out = type(model)(model.spec, new_model.coefficients, e0=new_model.e0, metadata=meta,
                          active_set=state.active_set or None, posterior=posterior)
        out.save(self.model_path)
        self._model = out
