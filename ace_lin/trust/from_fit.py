"""The trust part of a fit: the BLR posterior and the active set of the fitted model, and
the fit state for later updates (called by fit/driver.py on rank 0 after the solve)."""
import time

import numpy as np

from ace_lin.trust.committee import NoiseModel, Posterior, lower_factor
from ace_lin.trust.fitstate import FitState
from ace_lin.trust.grade import build_active_set


def fit_posterior(problem, system, coefficients, computed=None):
    """(Posterior or None, hyper-parameters) of the configured BLR solver on `system`; its
    mean is the solver's solution, which must be `coefficients` (those of the model).
    computed: (Solution, F) of BLRSolver.posterior on this system when the solve already
    made them (fit/problem.py solve_problem), so that its SVD is not repeated."""
    from ace_lin.fit.problem import _prior, configured_solver

    solver = configured_solver(problem.cfg)
    if not hasattr(solver, "posterior"):
        return None, {"solver": problem.cfg.solver.kind}
    if computed is None:
        computed = solver.posterior(system.R, system.qty, **_prior(problem),
                                    n_rows=system.n_rows, rss0=system.rss0)
    solution, F = computed
    coef = np.asarray(coefficients)
    if not np.allclose(solution.coefficients, coef, rtol=1e-10, atol=1e-12 * max(np.abs(coef).max(), 1)):
        raise RuntimeError("the posterior's mean differs from the fitted coefficients")
    info = solution.info
    hyper = {"solver": "blr", "alpha": info["alpha"], "beta": info["beta"], "lam": solution.lam,
             "noise_rms": info["noise_rms"], "log_evidence": info["log_evidence"]}
    w = problem.cfg.weights
    noise = NoiseModel(beta=info["beta"], energy_weight=w.energy, forces_weight=w.forces,
                       stress_weight=w.stress)
    return Posterior(mean=coef, factor=lower_factor(F), e0_elements=list(problem.e0_fit),
                     noise=noise), hyper


def attach_trust(problem, system, model, progress=False, computed=None):
    """(model with the active set and posterior asked for by problem.cfg.trust, FitState).
    computed: see fit_posterior."""
    from ace_lin.fit.problem import _prior

    cfg = problem.cfg.trust
    t0 = time.perf_counter()
    nb = problem.basis.n_basis
    mean = np.r_[model.coefficients, [model.e0[el] for el in problem.e0_fit]]
    posterior, hyper = (fit_posterior(problem, system, mean, computed) if cfg.posterior
                        else (None, {}))
    t1 = time.perf_counter()
    aset = (build_active_set(problem.spec, [c.atoms for c in problem.train], progress=progress,
                             n_threads=problem.cfg.assembly.n_threads or 0)
            if cfg.active_set else {})
    t2 = time.perf_counter()
    prior = _prior(problem)
    hyper = dict(hyper, prior=problem.prior.to_dict())
    state = FitState(R=system.R, qty=system.qty, n_rows=system.n_rows, rss0=system.rss0,
                     n_basis=nb, e0_elements=list(problem.e0_fit), gamma=prior["gamma"],
                     unpenalized=prior["unpenalized"], spec_hash=problem.spec.spec_hash(),
                     hyper=hyper, active_set=aset)
    summary = {"posterior": posterior is not None,
               "active_set": {el: {"active_atoms": a.n_real, "invariants": int(a.columns.size)}
                              for el, a in aset.items()},
               "seconds": {"posterior": round(t1 - t0, 3), "active_set": round(t2 - t1, 3)}}
    meta = dict(model.metadata, trust=summary)
    out = type(model)(model.spec, model.coefficients, e0=model.e0, metadata=meta,
                      active_set=aset or None, posterior=posterior)
    return out, state
