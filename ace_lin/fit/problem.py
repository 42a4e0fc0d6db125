"""The fitting problem: from a configuration to the regularized least-squares system and
its solution.

prepare(config) reads and checks the data, resolves the one-body energies E0 and builds
the basis; assemble_problem() turns configurations into the streamed triangular factor
(fit/assemble.py); log_evidence() scores a basis or prior by the Bayesian evidence of that
system, and solve_problem() solves it (fit/solvers.py). The hyper-parameter searches
(fit/r_scale_search.py, fit/prior_search.py) and the fit itself (fit/driver.py) are built
from these; nothing here writes files.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

from ace_lin.basis.spec import BasisSpec
from ace_lin.data.read import (DataError, ReadOptions, infer_elements, read_configs,
                               split_isolated_atoms)
from ace_lin.fit.assemble import assemble, core_provider
from ace_lin.fit.config import ConfigError, FitConfig, load_config
from ace_lin.fit.embedding import embed
from ace_lin.fit.prior import SmoothnessPrior
from ace_lin.fit.radii import data_radii
from ace_lin.fit.search import PRIOR_START, is_auto, spec_r_scale
from ace_lin.fit.solvers import make_solver
from ace_lin.fit.weights import WeightSettings
from ace_lin.model import LinearACEModel


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
    r_scale_open: bool = False        # r_scale left to the data: settle_r_scale chooses it
    r_scale_search: Optional[dict] = None  # the record of that choice (fit/r_scale_search.py)
    prior_open: bool = False          # prior exponent left to the data: settle_prior chooses it
    prior_search: Optional[dict] = None  # the record of that choice (fit/prior_search.py)


def _read(path: str, cfg: FitConfig, elements):
    d = cfg.data
    opts = ReadOptions(energy_key=d.energy_key, forces_key=d.forces_key, stress_key=d.stress_key,
                       virial_key=d.virial_key, weight_key=d.weight_key,
                       config_type_key=d.config_type_key)
    return read_configs(path, elements=elements, options=opts)


def resolve_e0(cfg: FitConfig, train, elements, r_cut_max):
    """Returns (fixed {el: E0 eV}, fitted [el], source {el: how}, training configs without
    the isolated atoms that fixed an E0)."""
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


def make_spec(cfg: FitConfig, elements, train=()) -> BasisSpec:
    """The BasisSpec of the configuration's basis section, radii left open taken from the
    training data (fit/radii.py). r_scale 'auto' starts from the covalent default;
    settle_r_scale (fit/r_scale_search.py) then picks the value."""
    try:
        fields = spec_r_scale(cfg.basis.spec_fields(len(elements)))
        fields.update(data_radii(train, elements, fields, explicit=cfg.basis.overrides))
        return BasisSpec(elements=tuple(elements), **fields)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"section 'basis': {exc}") from None


def configured_solver(cfg: FitConfig):
    """The solver object of the configuration's solver section (fit/solvers.py)."""
    s = cfg.solver
    if s.kind == "blr":
        return make_solver("blr", max_iter=s.max_iter, tol=s.tol, column_scaling=s.column_scaling)
    if s.kind == "ridge":
        return make_solver("ridge", lam=s.ridge_lambda, column_scaling=s.column_scaling)
    return make_solver("tsvd", rcond=s.rcond, column_scaling=s.column_scaling)


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
    spec = make_spec(cfg, elements, train)
    e0_fixed, e0_fit, e0_source, train_fit = resolve_e0(cfg, train, elements, spec.max_reach)
    if not train_fit:
        raise DataError(f"{cfg.data.train}: no configurations left to fit (only isolated atoms)")
    spec = embed(spec, train_fit, n_threads=cfg.assembly.n_threads)
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
    auto = is_auto(prior["p"])
    if auto:
        prior["p"] = PRIOR_START[1]
    r_scale = cfg.basis.spec_fields(len(elements)).get("r_scale")
    return FitProblem(cfg=cfg, elements=list(elements), train=train_fit, test=test, spec=spec,
                      basis=spec.basis(), e0_fixed=e0_fixed, e0_fit=list(e0_fit),
                      e0_source=e0_source, weights=weights,
                      prior=SmoothnessPrior(**prior),
                      prior_open=auto and prior["kind"] == "algebraic",
                      r_scale_open=is_auto(r_scale, absent=True))


def assemble_problem(problem: FitProblem, configs, progress: bool = False, comm=None):
    """The LinearSystem of `configs` (a subset of problem.train, or all of it). Collective
    under MPI (comm: every rank assembles a share and gets the folded factor)."""
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
    coefficients: how the searches compare bases and priors."""
    blr = make_solver("blr", column_scaling=problem.cfg.solver.column_scaling)
    return blr.log_evidence(system.R, system.qty, **_prior(problem), n_rows=system.n_rows,
                            rss0=system.rss0)


def solve_problem(problem: FitProblem, system, solver=None, posterior: bool = False):
    """Solve the regularized system with the configured solver (or `solver`); returns
    (LinearACEModel without metadata, Solution). posterior=True: returns (model, Solution,
    F) instead, F the posterior factor of BLRSolver.posterior from the same SVD as the
    solution (one O(p^3) decomposition instead of two), None for a solver without one."""
    nb = problem.basis.n_basis
    solver = solver or configured_solver(problem.cfg)
    args = (system.R, system.qty)
    kw = dict(**_prior(problem), n_rows=system.n_rows, rss0=system.rss0)
    F = None
    if posterior and hasattr(solver, "posterior"):
        solution, F = solver.posterior(*args, **kw)
    else:
        solution = solver.solve(*args, **kw)
    coef = solution.coefficients
    e0 = dict(problem.e0_fixed)
    e0.update({el: float(v) for el, v in zip(problem.e0_fit, coef[nb:])})
    model = LinearACEModel(problem.spec, coef[:nb], e0=e0)
    return (model, solution, F) if posterior else (model, solution)
