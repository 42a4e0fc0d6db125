"""The active-learning loop, resumable after kill -9 at any point.

Iteration k, with the model of iteration k:
  1. explore (explore.py) and select among the frames above the threshold: the selection is
     written atomically to iterations/k/selected.extxyz before any labelling, so a resumed
     run labels the same frames;
  2. label each selected frame with the oracle; every result is committed to
     labelled.extxyz (journal.py) as soon as the oracle returns, a failure to failed.jsonl;
     a frame already in either journal is never labelled again;
  3. fold the labels not yet in the fit state into it and refit (update.py): the fit state
     records how many labels it holds, so a fold interrupted before or after its save is
     neither lost nor done twice;
  4. a copy of the new model to iterations/k/model.json (the initial one in
     iterations/initial/), one row of progress.csv (labels so far, frames above threshold, largest grade seen)
     and the next iteration number go to state.json (atomically).
The loop ends when no exploration frame passes the threshold, when the label budget is
spent, or after the configured number of iterations.
"""
import csv
import hashlib
import io
import json
import os
from dataclasses import asdict

import numpy as np

from ace_lin.fit.config import ConfigError
from ace_lin.io.atomic import atomic_write
from ace_lin.learn.journal import Journal, extxyz_text

STATE_VERSION = 1
PROGRESS_COLUMNS = ("iteration", "labels", "frames_checked", "frames_above_threshold",
                    "max_grade", "selected", "failed")


class RunFolderError(ConfigError):
    """The output folder belongs to another run or was damaged."""


def config_digest(cfg) -> str:
    """sha256 of the configuration that decides what the run computes."""
    return hashlib.sha256(json.dumps(asdict(cfg), sort_keys=True, default=str).encode()).hexdigest()


class RunFolder:
    """The files of one run and the state that ties them together."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.root = cfg.output
        os.makedirs(self.root, exist_ok=True)
        self.model_path = os.path.join(self.root, "model.json")
        self.state_path = os.path.join(self.root, "state.json")
        self.labelled = Journal(os.path.join(self.root, "labelled.extxyz"))
        self.failed = Journal(os.path.join(self.root, "failed.jsonl"))
        self.digest = config_digest(cfg)
        self.state = self._load_state()

    def _load_state(self):
        if not os.path.exists(self.state_path):
            return {"state_version": STATE_VERSION, "config_sha256": self.digest,
                    "iteration": 0, "rows": [], "finished": None}
        with open(self.state_path) as fh:
            try:
                st = json.load(fh)
            except ValueError as exc:
                raise RunFolderError(f"{self.state_path}: unreadable ({exc})") from None
        if st.get("config_sha256") != self.digest:
            raise RunFolderError(f"{self.root}: this output folder holds a run with another "
                                 "configuration; give a new output folder (or restore that one)")
        return st

    def save_state(self):
        atomic_write(self.state_path, json.dumps(self.state, indent=1).encode())
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=PROGRESS_COLUMNS, lineterminator="\n")
        w.writeheader()
        for row in self.state["rows"]:
            w.writerow({k: row[k] for k in PROGRESS_COLUMNS})
        atomic_write(os.path.join(self.root, "progress.csv"), buf.getvalue().encode())

    def iteration_dir(self, k: int) -> str:
        d = os.path.join(self.root, "iterations", f"{k:03d}")
        os.makedirs(d, exist_ok=True)
        return d


def keep_copy(model_path, folder):
    """An atomic copy of the model file into `folder` (the model history of the run)."""
    os.makedirs(folder, exist_ok=True)
    with open(model_path, "rb") as fh:
        atomic_write(os.path.join(folder, os.path.basename(model_path)), fh.read(), "model copy")


def _write_frames(path, frames):
    atomic_write(path, "".join(extxyz_text(f) for f in frames).encode())


def _read_frames(path):
    from ase.io import read

    return read(path, ":") if os.path.getsize(path) else []


def explore_and_select(run: RunFolder, refit, starts, k: int, n_select: int, bar=None):
    """(selected frames, exploration record) of iteration k, computed once and kept."""
    from ace_lin.calculator import ACECalculator
    from ace_lin.learn.explore import explore
    from ace_lin.trust.select import distinct_frames, select_structures

    d = run.iteration_dir(k)
    sel_path, rec_path = os.path.join(d, "selected.extxyz"), os.path.join(d, "exploration.json")
    if os.path.exists(rec_path):
        with open(rec_path) as fh:
            return _read_frames(sel_path), json.load(fh)
    model = refit.model()
    random = run.cfg.selection == "random"
    ex = explore(ACECalculator(model), starts, run.cfg, k, bar=bar, keep_all=random)
    if random:  # the baseline: uniformly among every checked frame
        rng = np.random.default_rng([run.cfg.seed, k, 1 << 20])
        pick = rng.choice(len(ex.checked), size=min(n_select, len(ex.checked)), replace=False)
        selected = [ex.checked[i] for i in sorted(pick)]
    else:
        n = min(n_select, len(distinct_frames(ex.candidates)))
        picked = select_structures(model, ex.candidates, n)[0] if n else []
        selected = [ex.candidates[i] for i in picked]
    record = {"frames_checked": ex.n_frames, "frames_above_threshold": len(ex.candidates),
              "max_grade": ex.max_grade, "trajectories_stopped": ex.n_stopped,
              "selected": len(selected)}
    _write_frames(sel_path, selected)           # first the frames, then the record that
    atomic_write(rec_path, json.dumps(record).encode())  # says the step is complete
    return selected, record


def label_frames(run: RunFolder, oracle, k: int, frames, bar=None):
    """Label the frames of iteration k that neither journal holds yet."""
    from ace_lin.learn.oracle import LabelFailure, label

    for j, frame in enumerate(frames):
        key = (k, j)
        if key in run.labelled or key in run.failed:
            continue
        result = label(frame, oracle)
        if isinstance(result, LabelFailure):
            run.failed.append(key, json.dumps({"iteration": k, "index": j,
                                               "error": result.message}) + "\n")
        else:
            result.info.update({"al_iteration": k, "al_index": j,
                                "config_type": "active_learning"})
            run.labelled.append(key, extxyz_text(result))
        if bar is not None:
            bar.update(1)


def run_loop(cfg, progress: bool = True) -> dict:
    """Run (or resume) the loop; returns the final state."""
    from ase.io import read

    from ace_lin.learn.oracle import load_oracle_factory
    oracle = load_oracle_factory(cfg.oracle_calculator, cfg.oracle_kwargs)
    from ace_lin.learn.update import Refitter

    run = RunFolder(cfg)
    if run.state["finished"]:
        return run.state
    starts = [a for p in cfg.structures for a in read(p, ":")]
    refit = Refitter(cfg, run.model_path, run.labelled.path)
    refit.ensure_initial(progress=progress)
    refit.catch_up(len(run.labelled))  # a fold that a kill interrupted
    if not run.state["rows"]:
        keep_copy(run.model_path, os.path.join(run.root, "iterations", "initial"))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.iterations, initial=run.state["iteration"], unit="iter",
                   desc="active learning")
    while run.state["finished"] is None:
        k = run.state["iteration"]
        used = len(run.labelled)
        if k >= cfg.iterations:
            run.state["finished"] = "iterations"
        elif used >= cfg.budget:
            run.state["finished"] = "budget"
        if run.state["finished"]:
            run.save_state()
            break
        selected, rec = explore_and_select(run, refit, starts, k,
                                           min(cfg.select_per_iteration, cfg.budget - used))
        label_frames(run, oracle, k, selected)
        refit.catch_up(len(run.labelled))
        keep_copy(run.model_path, run.iteration_dir(k))
        row = dict(rec, iteration=k, labels=len(run.labelled),
                   failed=sum(1 for key in run.failed.keys if key[0] == k))
        run.state["rows"].append(row)
        run.state["iteration"] = k + 1
        if rec["frames_above_threshold"] == 0:
            run.state["finished"] = "converged"
        run.save_state()
        if bar is not None:
            bar.update(1)
            bar.set_postfix(labels=row["labels"], max_grade=f"{row['max_grade']:.3g}")
    if bar is not None:
        bar.close()
    plot_progress(run)
    return run.state


def plot_progress(run: RunFolder):
    """progress.png: labels and the largest exploration grade per iteration."""
    rows = run.state["rows"]
    if not rows:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    it = [r["iteration"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.semilogy(it, [max(r["max_grade"], 1e-3) for r in rows], "o-", label="largest grade")
    ax.axhline(run.cfg.threshold, color="k", lw=0.8, ls="--", label="threshold")
    ax.set_xlabel("iteration")
    ax.set_ylabel("extrapolation grade")
    ax2 = ax.twinx()
    ax2.plot(it, [r["labels"] for r in rows], "s-", color="C1", label="labels")
    ax2.set_ylabel("labels so far")
    fig.legend(loc="upper right")
    fig.tight_layout()
    path = os.path.join(run.root, "progress.png")
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
