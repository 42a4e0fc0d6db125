"""fit(config) -> (model, report): read data, assemble, solve, save, report.

Outputs (rank 0 only): the model file (config.output, written atomically by
LinearACEModel.save with the fit metadata), and next to it `<stem>.errors.txt` (error
tables, train and test) and `<stem>.parity.png` (energies and forces, train and test).
"""
import hashlib
import os
import time
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional

import numpy as np

from ace_lin.data.read import (DataError, ReadOptions, infer_elements, read_configs,
                               split_isolated_atoms)
from ace_lin.fit.config import ConfigError, FitConfig, load_config
from ace_lin.fit.metrics import error_table, format_table, predict
from ace_lin.fit.prior import SmoothnessPrior
from ace_lin.fit.prior_search import START as PRIOR_START, choose_power
from ace_lin.fit.prior_search import wants_search as wants_prior_search
from ace_lin.fit.radii import data_radii
from ace_lin.fit.solvers import make_solver
from ace_lin.fit.transform import choose_r_scale, spec_r_scale, wants_search
from ace_lin.fit.weights import WeightSettings

# environment variables set by MPI launchers (Open MPI, MPICH/Hydra, PMIx, Intel MPI)
_MPI_ENV = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")


@dataclass
class FitReport:
    """What a fit produced. Errors as in fit/metrics.error_table (meV/atom, eV/A, GPa)."""
    model_path: str
    errors_path: str
    plot_path: str
    n_basis: int
    e0: Dict[str, float]
    e0_source: Dict[str, str]
    lam: float
    solver_info: dict
    assembly: dict
    train_errors: dict
    test_errors: Optional[dict] = None
    seconds: Dict[str, float] = field(default_factory=dict)
    transform: Optional[dict] = None  # the r_scale search (fit/transform.py), if one ran
    prior_search: Optional[dict] = None  # the prior exponent search (fit/prior_search.py)

    def text(self) -> str:
        parts = [format_table(self.train_errors, "training set")]
        if self.test_errors is not None:
            parts.append(format_table(self.test_errors, "test set"))
        return "\n\n".join(parts)


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def mpi_comm(mode: str):
    """mpi4py COMM_WORLD when asked for (or, for 'auto', when launched by mpirun)."""
    if mode == "off" or (mode == "auto" and not any(k in os.environ for k in _MPI_ENV)):
        return None
    try:
        from mpi4py import MPI
    except ImportError:
        if mode == "on":
            raise ConfigError("assembly.mpi is 'on' but mpi4py is not installed") from None
        return None
    comm = MPI.COMM_WORLD
    return comm if comm.Get_size() > 1 else None


def _read(path: str, cfg: FitConfig, elements):
    d = cfg.data
    opts = ReadOptions(energy_key=d.energy_key, forces_key=d.forces_key, stress_key=d.stress_key,
                       virial_key=d.virial_key, weight_key=d.weight_key,
                       config_type_key=d.config_type_key)
    return read_configs(path, elements=elements, options=opts)


def _resolve_e0(cfg: FitConfig, train, elements, r_cut_max):
    """Returns (fixed {el: E0}, fitted [el], source {el: how}, training configs)."""
    if cfg.e0 == "fit":
        isolated, rest = {}, list(train)
    else:
        isolated, rest = split_isolated_atoms(train, max(cfg.data.isolated_atom_box, r_cut_max))
    given = dict(cfg.e0) if isinstance(cfg.e0, dict) else {}
    fixed, source = {}, {}
    for e in elements:
        if e in given:
            fixed[e], source[e] = given[e], "config"
        elif e in isolated:
            fixed[e], source[e] = isolated[e], "isolated atom"
    fit_els = [e for e in elements if e not in fixed]
    present = set()
    for c in rest:
        present.update(c.atoms.get_chemical_symbols())
    absent = [e for e in fit_els if e not in present]
    if absent:
        raise DataError(f"{cfg.data.train}: E0 of {absent} cannot be fitted: no training "
                        "configuration contains it; give e0 for it in the configuration")
    source.update({e: "fitted" for e in fit_els})
    return fixed, fit_els, source, rest


def _make_spec(cfg: FitConfig, elements, train=()):
    from ace_lin.basis.spec import BasisSpec

    try:
        # r_scale 'auto': the covalent default for now; settle_transform picks the value
        fields = spec_r_scale(cfg.basis.spec_fields(len(elements)))
        fields.update(data_radii(train, elements, fields, explicit=cfg.basis.overrides))
        return BasisSpec(elements=tuple(elements), **fields)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"section 'basis': {exc}") from None


def _solver(cfg: FitConfig):
    s = cfg.solver
    if s.kind == "blr":
        return make_solver("blr", max_iter=s.max_iter, tol=s.tol, column_scaling=s.column_scaling)
    if s.kind == "ridge":
        return make_solver("ridge", lam=s.ridge_lambda, column_scaling=s.column_scaling)
    return make_solver("tsvd", rcond=s.rcond, column_scaling=s.column_scaling)


def output_paths(model_path: str):
    stem = model_path[:-5] if model_path.endswith(".json") else model_path
    return stem + ".errors.txt", stem + ".parity.png"


@dataclass
class FitProblem:
    """Everything a fit needs before assembly: data, basis, E0 handling, weights, prior."""
    cfg: FitConfig
    elements: List[str]
    train: list             # training configurations without the E0-defining isolated atoms
    test: Optional[list]
    spec: object            # BasisSpec
    basis: object           # its tables (n_basis, degree, ...)
    e0_fixed: Dict[str, float]
    e0_fit: List[str]
    e0_source: Dict[str, str]
    weights: WeightSettings
    prior: SmoothnessPrior
    r_scale_open: bool = False        # r_scale left to the data: settle_transform chooses it
    transform: Optional[dict] = None  # the record of that choice (fit/transform.py)
    prior_open: bool = False          # prior exponent left to the data: settle_prior chooses it
    prior_search: Optional[dict] = None  # the record of that choice (fit/prior_search.py)


def prepare(config) -> FitProblem:
    """Read and check the data and the configuration; build the basis (no assembly yet).
    config: FitConfig, dict or YAML path."""
    cfg = config if isinstance(config, FitConfig) else load_config(config)
    train = _read(cfg.data.train, cfg, cfg.elements)
    elements = cfg.elements or infer_elements(train)
    if isinstance(cfg.e0, dict):
        extra = sorted(set(cfg.e0) - set(elements))
        if extra:
            raise ConfigError(f"e0: element(s) {extra} are not in the data/elements {elements}")
    test = _read(cfg.data.test, cfg, elements) if cfg.data.test else None
    spec = _make_spec(cfg, elements, train)
    e0_fixed, e0_fit, e0_source, train_fit = _resolve_e0(cfg, train, elements, spec.max_reach)
    if not train_fit:
        raise DataError(f"{cfg.data.train}: no configurations left to fit (only isolated atoms)")
    found = sorted({c.config_type for c in train_fit})
    unknown = sorted(set(cfg.weights.config_types) - set(found))
    if unknown:  # a misspelt group would silently keep weight 1
        raise ConfigError(f"weights.config_types: {unknown} not config_type(s) of the training "
                          f"data (found: {found})")
    weights = WeightSettings(cfg.weights.energy, cfg.weights.forces, cfg.weights.stress,
                             cfg.weights.config_types)
    prior = dict(vars(cfg.solver.prior))
    # 'auto': the r_scale search scores with the middle start value, settle_prior then
    # chooses (only the algebraic prior has an exponent)
    auto = wants_prior_search(prior["p"])
    if auto:
        prior["p"] = PRIOR_START[1]
    return FitProblem(cfg=cfg, elements=list(elements), train=train_fit, test=test, spec=spec,
                      basis=spec.basis(), e0_fixed=e0_fixed, e0_fit=list(e0_fit),
                      e0_source=e0_source, weights=weights,
                      prior=SmoothnessPrior(**prior),
                      prior_open=auto and prior["kind"] == "algebraic",
                      r_scale_open=wants_search(cfg.basis.spec_fields(len(elements))))


def settle_transform(problem: FitProblem, comm=None, progress: bool = False):
    """(problem, system): the problem with r_scale chosen by evidence if it was left open
    (fit/transform.py) and the full training system the search assembled on the way; else
    (problem, None). Collective under MPI."""
    if not problem.r_scale_open:
        return problem, None
    chosen, system, record = choose_r_scale(problem, comm=comm, progress=progress)
    return replace(chosen, r_scale_open=False, transform=record), system


def settle_prior(problem: FitProblem, system, known: Optional[Dict[float, float]] = None):
    """The problem with the prior exponent chosen by the evidence of `system` if it was
    left open (fit/prior_search.py); else the problem unchanged. `known`: {p: log evidence}
    already computed on this system. Local to the calling rank (no communication)."""
    if not problem.prior_open:
        return problem

    def score(p):
        return log_evidence(replace(problem, prior=replace(problem.prior, p=p)), system)

    best, tried = choose_power(score, known)
    return replace(problem, prior=replace(problem.prior, p=best), prior_open=False,
                   prior_search={"p": best, "tried": tried})


def assemble_problem(problem: FitProblem, configs, progress: bool = False, comm=None):
    """The LinearSystem of `configs` (a subset of problem.train, or all of it)."""
    from ace_lin.fit.assemble import assemble, core_provider

    cfg = problem.cfg
    return assemble(configs, problem.basis.n_basis, core_provider(problem.spec, cfg.assembly.n_threads),
                    problem.weights, problem.elements, problem.e0_fixed, problem.e0_fit,
                    block_rows=cfg.assembly.block_rows, progress=progress, comm=comm)


def _prior(problem: FitProblem) -> dict:
    """The solver's prior arguments: smoothness gamma per column, and the fitted E0 columns
    (a flat prior: their size, eV/atom, is no basis coefficient's)."""
    nb, ne = problem.basis.n_basis, len(problem.e0_fit)
    return {"gamma": problem.prior.gamma(np.concatenate([problem.basis.degree, np.zeros(ne)])),
            "unpenalized": np.r_[np.zeros(nb, dtype=bool), np.ones(ne, dtype=bool)]}


def log_evidence(problem: FitProblem, system) -> float:
    """Log evidence of the BLR fit of `system` (fit/solvers.py), without solving for the
    coefficients: how the r_scale search compares bases."""
    blr = make_solver("blr", column_scaling=problem.cfg.solver.column_scaling)
    return blr.log_evidence(system.R, system.qty, **_prior(problem), n_rows=system.n_rows,
                            rss0=system.rss0)


def solve_problem(problem: FitProblem, system, solver=None):
    """Solve the regularized system with the configured solver (or `solver`); returns
    (LinearACEModel without metadata, Solution)."""
    from ace_lin.model import LinearACEModel

    nb = problem.basis.n_basis
    solution = (solver or _solver(problem.cfg)).solve(system.R, system.qty, **_prior(problem),
                                                      n_rows=system.n_rows, rss0=system.rss0)
    coef = solution.coefficients
    e0 = dict(problem.e0_fixed)
    e0.update({el: float(v) for el, v in zip(problem.e0_fit, coef[nb:])})
    return LinearACEModel(problem.spec, coef[:nb], e0=e0), solution


def fit(config, progress: Optional[bool] = None):
    """Fit a model. config: FitConfig, dict or YAML path. Returns (model, FitReport);
    on MPI ranks other than 0 the report is None (only rank 0 evaluates and writes)."""
    from ace_lin.calculator import ACECalculator
    from ace_lin.model import LinearACEModel

    t = {"start": time.perf_counter()}
    problem = prepare(config)
    cfg, train_fit, test = problem.cfg, problem.train, problem.test
    t["read"] = time.perf_counter()

    comm = mpi_comm(cfg.assembly.mpi)
    show = cfg.assembly.progress if progress is None else progress
    # with an r_scale search, "transform" holds the whole assembly (the winner's part
    # systems are the training system) and "assemble" stays ~0
    problem, system = settle_transform(problem, comm, progress=show)
    t["transform"] = time.perf_counter()
    if system is None:
        system = assemble_problem(problem, train_fit, comm=comm, progress=show)
    t["assemble"] = time.perf_counter()

    rank = comm.Get_rank() if comm is not None else 0
    result = None
    if rank == 0:
        # the search scored the winner on all training data with the prior's start exponent
        known = ({problem.prior.p: problem.transform["log_evidence"]}
                 if problem.transform and problem.prior_open else None)
        problem = settle_prior(problem, system, known)
        result = solve_problem(problem, system)
    if comm is not None:
        result = comm.bcast(result, root=0)
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
                       transform=problem.transform, prior_search=problem.prior_search)
    # the returned model carries the same fit metadata as the file
    model = LinearACEModel(problem.spec, model.coefficients, e0=e0,
                           metadata=_metadata(cfg, report, problem))
    model.save(out)
    with open(errors_path, "w") as fh:
        fh.write(report.text() + "\n")
    parity_plot(plot_path, [("train", train_fit, train_pred),
                            ("test", test or [], test_pred or [])])
    return model, report


def _metadata(cfg: FitConfig, report: FitReport, problem: FitProblem) -> dict:
    from ace_lin import __version__

    data = {"train": {"path": cfg.data.train, "sha256": file_sha256(cfg.data.train)}}
    if cfg.data.test:
        data["test"] = {"path": cfg.data.test, "sha256": file_sha256(cfg.data.test)}
    return {"fit": {
        "ace_lin_version": __version__,
        "data": data,
        "config": cfg.to_dict(),
        "weights": problem.weights.to_dict(),
        "prior": problem.prior.to_dict(),
        "prior_search": problem.prior_search,
        "r_scale_search": problem.transform,
        "solver": dict(report.solver_info, kind=cfg.solver.kind),
        "lambda": report.lam,
        "e0_source": report.e0_source,
        "rows": report.assembly,
        "seconds": report.seconds,
        "errors_units": {"energy": "meV/atom", "forces": "eV/A", "stress": "GPa"},
        "train_errors": report.train_errors,
        "test_errors": report.test_errors,
    }}


def parity_plot(path: str, sets: List[tuple]) -> None:
    """Energies (eV/atom) and force components (eV/A), DFT vs model, per data set."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed; also safe when a GUI backend is configured
    import matplotlib.pyplot as plt

    fig, (ax_e, ax_f) = plt.subplots(1, 2, figsize=(10, 4.6))
    for (name, configs, preds), marker in zip(sets, ("o", "^")):
        if not configs:
            continue
        e_ref = [c.energy / c.n_atoms for c in configs]
        e_mod = [p.energy / c.n_atoms for c, p in zip(configs, preds)]
        ax_e.scatter(e_ref, e_mod, s=12, marker=marker, alpha=0.7, label=name)
        f_ref = np.concatenate([c.forces.ravel() for c in configs])
        f_mod = np.concatenate([p.forces.ravel() for p in preds])
        ax_f.scatter(f_ref, f_mod, s=4, marker=marker, alpha=0.4, label=name)
    for ax, what in ((ax_e, "energy (eV/atom)"), (ax_f, "force component (eV/A)")):
        lo, hi = ax.get_xlim()
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        ax.set_xlabel(f"DFT {what}")
        ax.set_ylabel(f"model {what}")
        ax.legend()
    fig.tight_layout()
    tmp = f"{path}.{os.getpid()}.tmp.png"
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
