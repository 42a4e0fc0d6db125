"""k-fold cross-validation of a fit configuration on its training data.

Why: a test set of ~25 configurations (the mlearn sets) judges a model by a handful of
surfaces and hot liquids; choosing basis, weights or solver on it tunes to those few
frames. Cross-validation scores every training configuration once, as unseen data, with
the same assembly and solver as `ace-lin fit`, and leaves the test set untouched.

How: the configurations are dealt to k folds, per config_type (shuffled with a fixed
seed, so every group is spread over all folds and the split is reproducible). Each fold is
assembled once into its own triangular factor; the system of "all folds but f" is the
other folds' factors folded together (exact: a factor stands for its rows; the same fold as
the MPI reduction of the assembly), so k fits cost one assembly plus k small folds and k solves.
The held-out predictions go through the same evaluator as any model (ACECalculator), and
the result is an error table like `ace-lin errors` (energy meV/atom, forces eV/A, stress GPa).
"""
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np

from ace_lin.fit.assemble import merge_systems


def fold_labels(config_types: Sequence[str], k: int, seed: int = 0) -> np.ndarray:
    """Fold index (0..k-1) of every configuration, stratified by config_type: within each
    group, a seeded shuffle and then round robin, so group sizes differ by at most one
    between folds. Deterministic for the same input and seed."""
    types = np.asarray(list(config_types), dtype=object)
    if k < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {k}")
    if types.size < k:
        raise ValueError(f"{types.size} configurations cannot be split into {k} folds")
    rng = np.random.default_rng(seed)
    labels = np.empty(types.size, dtype=int)
    start = 0
    for name in sorted(set(types.tolist())):
        idx = np.flatnonzero(types == name)
        rng.shuffle(idx)
        # continue the round robin where the previous group stopped: small groups do not
        # all land in fold 0
        labels[idx] = (start + np.arange(idx.size)) % k
        start = (start + idx.size) % k
    return labels


@dataclass
class CrossValidation:
    """errors: error table (fit/metrics.error_table) of the held-out predictions.
    folds: per fold {n_configs, lambda, effective_parameters, prior_p}; labels: fold of each
    training configuration; predictions: its held-out Prediction (metrics.Prediction)."""
    k: int
    seed: int
    n_basis: int
    errors: dict
    folds: List[dict] = field(default_factory=list)
    labels: Optional[np.ndarray] = None
    predictions: list = field(default_factory=list)
    rank: int = 0           # MPI rank that computed this (all ranks get the same result)

    def to_dict(self) -> dict:
        return {"folds_k": self.k, "seed": self.seed, "n_basis": self.n_basis,
                "errors_units": {"energy": "meV/atom", "forces": "eV/A", "stress": "GPa"},
                "errors": self.errors, "folds": self.folds}


def cross_validate(config, k: int = 5, seed: int = 0, progress: bool = False,
                   n_threads: Optional[int] = None) -> CrossValidation:
    """k-fold cross-validation of a fit configuration (FitConfig, dict or YAML path) on
    its training data. The configuration's output path is not written."""
    from ace_lin.calculator import ACECalculator
    from ace_lin.fit.mpi import mpi_comm
    from ace_lin.fit.prior_search import settle_prior
    from ace_lin.fit.problem import assemble_problem, prepare, solve_problem
    from ace_lin.fit.r_scale_search import settle_r_scale
    from ace_lin.fit.metrics import error_table, predict

    from ace_lin.data.read import DataError

    problem = prepare(config)
    configs = problem.train
    if len(configs) < k:
        raise DataError(f"{problem.cfg.data.train}: {len(configs)} training configurations "
                        f"cannot be split into {k} folds")
    labels = fold_labels([c.config_type for c in configs], k, seed)
    # under mpirun: every fold's assembly is spread over the ranks (as in `ace-lin fit`),
    # then the k solves are dealt round-robin to the ranks and their predictions shared
    comm = mpi_comm(problem.cfg.assembly.mpi)
    # r_scale, if left open, is chosen once on all training data (evidence, no held-out
    # errors involved) and then kept for every fold
    problem, _ = settle_r_scale(problem, comm)
    configs = problem.train
    rank, size = (comm.Get_rank(), comm.Get_size()) if comm is not None else (0, 1)
    bar = None
    if progress and rank == 0:
        from tqdm import tqdm

        bar = tqdm(total=2 * k, desc="cross-validation", unit="step")
    systems = []
    for f in range(k):
        systems.append(assemble_problem(problem, [configs[i] for i in np.flatnonzero(labels == f)],
                                        comm=comm))
        if bar is not None:
            bar.update(1)
    threads = problem.cfg.assembly.n_threads if n_threads is None else n_threads
    mine = []
    for f in range(rank, k, size):
        system = merge_systems([s for g, s in enumerate(systems) if g != f])
        # the prior exponent, if open, is chosen per fold: by the evidence of the fold's
        # training part, as a fit on those data would
        fold_problem = settle_prior(problem, system)
        model, solution = solve_problem(fold_problem, system)
        held = np.flatnonzero(labels == f)
        calc = ACECalculator(model, n_threads=threads or 0)
        mine.append((f, held, predict([configs[i] for i in held], calc),
                     {"n_configs": int(held.size), "lambda": float(solution.lam),
                      "effective_parameters": solution.info.get("effective_parameters"),
                      "prior_p": float(fold_problem.prior.p)}))
        if bar is not None:
            bar.update(min(size, k - f))
    done = [r for part in comm.allgather(mine) for r in part] if comm is not None else mine
    preds = [None] * len(configs)
    folds = [None] * k
    for f, held, fold_preds, info in done:
        for i, pred in zip(held, fold_preds):
            preds[i] = pred
        folds[f] = info
    if bar is not None:
        bar.close()
    return CrossValidation(k=k, seed=seed, n_basis=problem.basis.n_basis,
                           errors=error_table(configs, preds), folds=folds, labels=labels,
                           predictions=preds, rank=rank)
