"""fit(config) -> (model, report): the order of the steps of a fit, nothing else.

prepare the problem (fit/problem.py) -> choose r_scale if open, assembling on the way
(fit/r_scale_search.py) -> assemble (fit/problem.py; MPI: fit/mpi.py) -> choose the
prior exponent if open (fit/prior_search.py) -> solve -> errors, posterior and active set
(trust/from_fit.py), model file, error tables and parity plot (fit/report.py).

Outputs (rank 0 only): the model file (config.output, written atomically by
LinearACEModel.save with the fit metadata), and next to it `<stem>.errors.txt`,
`<stem>.parity.png` and `<stem>.fitstate.npz` (trust/fitstate.py).
"""
import os
import time
from typing import Optional

from ace_lin.calculator import ACECalculator
from ace_lin.fit.metrics import error_table, predict
from ace_lin.fit.mpi import mpi_comm
from ace_lin.fit.prior_search import settle_prior
from ace_lin.fit.problem import assemble_problem, prepare, solve_problem
from ace_lin.fit.r_scale_search import settle_r_scale
from ace_lin.fit.report import (FitReport, fit_metadata, output_paths, parity_plot,
                                write_error_tables)
from ace_lin.model import LinearACEModel
from ace_lin.trust.fitstate import fitstate_path, write_fitstate
from ace_lin.trust.from_fit import attach_trust


def fit(config, progress: Optional[bool] = None):
    """Fit a model. config: FitConfig, dict or YAML path. Returns (model, FitReport);
    on MPI ranks other than 0 the report is None (only rank 0 evaluates and writes)."""
    t = {"start": time.perf_counter()}
    problem = prepare(config)
    cfg, train_fit, test = problem.cfg, problem.train, problem.test
    t["read"] = time.perf_counter()

    comm = mpi_comm(cfg.assembly.mpi)
    show = cfg.assembly.progress if progress is None else progress
    # with an r_scale search, "transform" holds the whole assembly (the winner's part
    # systems are the training system) and "assemble" stays ~0
    problem, system = settle_r_scale(problem, comm, progress=show)
    t["transform"] = time.perf_counter()
    if system is None:
        system = assemble_problem(problem, train_fit, comm=comm, progress=show)
    t["assemble"] = time.perf_counter()

    rank = comm.Get_rank() if comm is not None else 0
    result, posterior = None, None  # posterior: (Solution, F) of the BLR solve, rank 0 only
    if rank == 0:
        # the search scored the winner on all training data with the prior's start exponent
        known = ({problem.prior.p: problem.r_scale_search["log_evidence"]}
                 if problem.r_scale_search and problem.prior_open
                 and problem.r_scale_search["log_evidence"] is not None else None)
        problem = settle_prior(problem, system, known)
        # the BLR solve also gives the posterior the trust part needs, from one SVD
        if cfg.trust.posterior:
            model, solution, F = solve_problem(problem, system, posterior=True)
        else:
            (model, solution), F = solve_problem(problem, system), None
        result = (model, solution)
        posterior = (solution, F) if F is not None else None
    if comm is not None:
        result = comm.bcast(result, root=0)  # the posterior factor stays on rank 0
    model, solution = result
    t["solve"] = time.perf_counter()  # includes the prior exponent's evidence search
    if rank != 0:
        return model, None

    e0 = model.e0
    calc = ACECalculator(model, n_threads=cfg.assembly.n_threads or 0)
    train_pred = predict(train_fit, calc)
    train_err = error_table(train_fit, train_pred)
    test_pred = predict(test, calc) if test else None
    test_err = error_table(test, test_pred) if test else None
    t["errors"] = time.perf_counter()

    out = os.path.abspath(cfg.output)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    errors_path, plot_path = output_paths(out)
    seconds = {k: round(t[k] - t[p], 3) for p, k in
               zip(["start", "read", "transform", "assemble", "solve"],
                   ["read", "transform", "assemble", "solve", "errors"])}
    report = FitReport(model_path=out, errors_path=errors_path, plot_path=plot_path,
                       n_basis=problem.basis.n_basis, e0=e0, e0_source=problem.e0_source,
                       lam=solution.lam, solver_info=solution.info, assembly=dict(system.counts),
                       train_errors=train_err, test_errors=test_err, seconds=seconds,
                       r_scale_search=problem.r_scale_search, prior_search=problem.prior_search)
    # the returned model carries the same fit metadata as the file
    model = LinearACEModel(problem.spec, model.coefficients, e0=e0,
                           metadata=fit_metadata(cfg, report, problem))
    model, state = attach_trust(problem, system, model, progress=show, computed=posterior)
    model.save(out)
    write_fitstate(fitstate_path(out), state)
    write_error_tables(errors_path, report)
    parity_plot(plot_path, [("train", train_fit, train_pred),
                            ("test", test or [], test_pred or [])])
    return model, report
