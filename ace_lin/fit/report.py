"""What a fit reports: the FitReport, the model file's fit metadata, and the files written
next to the model (`<stem>.errors.txt`: error tables, train and test; `<stem>.parity.png`:
energies and forces, DFT vs model). Errors as in fit/metrics.error_table (energy meV/atom,
forces eV/A, stress GPa).
"""
import hashlib
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from ace_lin import __version__
from ace_lin.fit.config import FitConfig
from ace_lin.fit.metrics import format_table
from ace_lin.fit.problem import FitProblem


@dataclass
class FitReport:
    """What a fit produced. Errors as in fit/metrics.error_table (meV/atom, eV/A, GPa);
    seconds: wall time of each step (s)."""
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
    r_scale_search: Optional[dict] = None  # the r_scale search (fit/r_scale_search.py), if one ran
    prior_search: Optional[dict] = None  # the prior exponent search (fit/prior_search.py)

    def text(self) -> str:
        parts = [format_table(self.train_errors, "training set")]
        if self.test_errors is not None:
            parts.append(format_table(self.test_errors, "test set"))
        return "\n\n".join(parts)


def file_sha256(path: str) -> str:
    """Hex SHA-256 of a file's bytes (the training and test data in the metadata)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def output_paths(model_path: str):
    """(error table path, parity plot path) next to the model file."""
    stem = model_path[:-5] if model_path.endswith(".json") else model_path
    return stem + ".errors.txt", stem + ".parity.png"


def fit_metadata(cfg: FitConfig, report: FitReport, problem: FitProblem) -> dict:
    """The model file's metadata of a fit: data (paths and hashes), configuration, weights,
    prior and searches, solver, row counts, timings and errors."""
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
        "r_scale_search": problem.r_scale_search,
        "solver": dict(report.solver_info, kind=cfg.solver.kind),
        "lambda": report.lam,
        "e0_source": report.e0_source,
        "rows": report.assembly,
        "seconds": report.seconds,
        "errors_units": {"energy": "meV/atom", "forces": "eV/A", "stress": "GPa"},
        "train_errors": report.train_errors,
        "test_errors": report.test_errors,
    }}


def write_error_tables(path: str, report: FitReport) -> None:
    """The report's error tables as text, written atomically."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        fh.write(report.text() + "\n")
    os.replace(tmp, path)


def parity_plot(path: str, sets: List[tuple]) -> None:
    """Energies (eV/atom) and force components (eV/A), DFT vs model, per data set
    (name, configurations, predictions). Written atomically."""
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
