"""On-the-fly learning along one trajectory: whenever the extrapolation grade of a frame
passes the threshold, that frame is labelled by the oracle, the model is refitted with it
(only its rows are folded in, update.py) and the same trajectory continues with the new
model, until its steps are done or the label budget is spent.

The trajectory: the first start structure, strained by the first strain, Langevin at the
first temperature of the `explore` section, explore.steps steps of explore.timestep fs,
the grade checked every explore.stride steps. Resumable after kill -9: the MD state
(positions, momenta, random state, step) is checkpointed atomically right after every
label and every 10 checks; a resumed run continues from the last checkpoint, and a frame
whose label is already committed (key: its step) is not labelled again.
"""
import json
import os

import numpy as np
from ase import units
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, thermalize_momenta

from ace_lin.learn.explore import max_grade, strained
from ace_lin.io.atomic import atomic_write
from ace_lin.learn.loop import RunFolder, plot_progress

CHECK_EVERY = 10  # grade checks between routine checkpoints


def _save(path, atoms, step, rng, labels, max_seen):
    atomic_write(path, json.dumps({
        "step": int(step), "positions": atoms.get_positions().tolist(),
        "momenta": atoms.get_momenta().tolist(), "cell": atoms.cell.array.tolist(),
        "rng_state": rng.bit_generator.state, "labels": int(labels),
        "max_grade": float(max_seen)}).encode())


def run_on_the_fly(cfg, progress: bool = True) -> dict:
    from ase.io import read

    from ace_lin.calculator import ACECalculator
    from ace_lin.learn.oracle import LabelFailure, label, load_oracle_factory
    oracle = load_oracle_factory(cfg.oracle_calculator, cfg.oracle_kwargs)
    from ace_lin.learn.update import Refitter

    run = RunFolder(cfg)
    if run.state["finished"]:
        return run.state
    ex = cfg.explore
    refit = Refitter(cfg, run.model_path, run.labelled.path)
    refit.ensure_initial(progress=progress)
    refit.catch_up(len(run.labelled))
    atoms = strained(read(cfg.structures[0], 0), ex.strains[0])
    temperature = ex.temperatures[0]
    rng = np.random.default_rng([cfg.seed, 0])
    ckpt = os.path.join(run.root, "onthefly.checkpoint.json")
    step, max_seen = 0, 0.0
    if os.path.exists(ckpt):
        with open(ckpt) as fh:
            st = json.load(fh)
        atoms.set_cell(st["cell"])
        atoms.set_positions(st["positions"])
        atoms.set_momenta(st["momenta"])
        rng.bit_generator.state = st["rng_state"]
        step, max_seen = st["step"], st["max_grade"]
    else:
        thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
        Stationary(atoms)
    atoms.set_constraint(FixCom())
    calc = ACECalculator(refit.model())
    atoms.calc = calc
    dyn = Langevin(atoms, timestep=ex.timestep * units.fs, temperature_K=temperature,
                   friction=ex.friction / units.fs, rng=rng, fixcm=False)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=ex.steps, initial=step, unit="step", desc="on-the-fly")
    checks = 0
    while step < ex.steps and len(run.labelled) < cfg.budget:
        n = min(ex.stride, ex.steps - step)
        dyn.run(n)
        step += n
        grade = max_grade(calc, atoms)
        max_seen = max(max_seen, grade)
        checks += 1
        labelled_now = False
        key = ("otf", step)
        if grade > cfg.threshold and key not in run.labelled and key not in run.failed:
            frame = atoms.copy()
            frame.calc = None
            frame.set_constraint()
            result = label(frame, oracle)
            if isinstance(result, LabelFailure):
                run.failed.append(key, json.dumps({"step": step, "error": result.message}) + "\n")
            else:
                from ace_lin.learn.journal import extxyz_text

                result.info.update({"al_step": step, "al_grade": float(grade),
                                    "config_type": "active_learning"})
                run.labelled.append(key, extxyz_text(result))
                labelled_now = True
        if labelled_now or checks % CHECK_EVERY == 0:
            _save(ckpt, atoms, step, rng, len(run.labelled), max_seen)
        if labelled_now:
            refit.catch_up(len(run.labelled))
            calc = ACECalculator(refit.model())   # same trajectory, new model
            atoms.calc = calc
            row = {"iteration": len(run.state["rows"]), "labels": len(run.labelled),
                   "frames_checked": checks, "frames_above_threshold": 1,
                   "max_grade": float(grade), "selected": 1, "failed": len(run.failed)}
            run.state["rows"].append(row)
            run.save_state()
        if bar is not None:
            bar.update(n)
            bar.set_postfix(labels=len(run.labelled), grade=f"{grade:.3g}")
    if bar is not None:
        bar.close()
    _save(ckpt, atoms, step, rng, len(run.labelled), max_seen)
    run.state["finished"] = "budget" if len(run.labelled) >= cfg.budget else "steps"
    run.state["on_the_fly"] = {"steps": step, "max_grade": max_seen}
    run.save_state()
    plot_progress(run)
    return run.state
