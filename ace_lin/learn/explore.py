"""Exploration MD with the current model: which frames does it not know?

One Langevin trajectory per (start structure, temperature, strain); every `stride` steps
the frame's largest extrapolation grade is computed, frames above the threshold become
candidates for labelling, and a trajectory ends once its grade passes max_grade_stop (past
that the model is guessing, and what follows is not worth exploring). Each trajectory has
its own random stream derived from (seed, iteration, trajectory), so a resumed run explores
exactly what the interrupted one did.
"""
from dataclasses import dataclass, field
from typing import List

import numpy as np
from ase import units
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, thermalize_momenta


@dataclass
class Exploration:
    candidates: List[object] = field(default_factory=list)  # ase.Atoms, info: grade, origin
    checked: List[object] = field(default_factory=list)     # every checked frame (keep_all)
    n_frames: int = 0          # frames whose grade was computed
    max_grade: float = 0.0     # largest grade seen
    n_stopped: int = 0         # trajectories ended by max_grade_stop


def max_grade(calc, atoms) -> float:
    """The largest per-atom extrapolation grade of `atoms` (computed with the forces)."""
    return float(calc.get_property("max_gamma", atoms))


def strained(atoms, strain: float):
    """A copy with the cell and positions scaled isotropically by (1 + strain)."""
    a = atoms.copy()
    a.set_cell(a.cell.array * (1.0 + strain), scale_atoms=True)
    return a


def runs(starts, explore) -> list:
    """The (start index, temperature K, strain) of every exploration trajectory."""
    return [(i, float(t), float(s)) for i in range(len(starts))
            for t in explore.temperatures for s in explore.strains]


def run_trajectory(start, calc, temperature, steps, timestep_fs, stride, friction_per_fs,
                   threshold, stop, rng, keep_all=False):
    """Langevin MD from `start`; returns (frames above the threshold, frames checked: all
    of them with keep_all, else their number, largest grade, stopped)."""
    atoms = start.copy()
    atoms.calc = calc
    thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
    Stationary(atoms)
    # the centre of mass is held by a constraint: Langevin's own fixcm biases the ensemble
    atoms.set_constraint(FixCom())
    dyn = Langevin(atoms, timestep=timestep_fs * units.fs, temperature_K=temperature,
                   friction=friction_per_fs / units.fs, rng=rng, fixcm=False)
    found, checked, worst, stopped = [], [], 0.0, False
    step = 0
    while step < steps:
        n = min(stride, steps - step)
        dyn.run(n)
        step += n
        grade = max_grade(calc, atoms)
        if not np.isfinite(grade):
            grade = np.inf
        worst = max(worst, grade)
        frame = None
        if grade > threshold or keep_all:
            frame = atoms.copy()
            frame.calc = None
            frame.set_constraint()
            frame.info.update({"al_step": step, "al_grade": float(grade),
                               "al_temperature_K": float(temperature)})
        checked.append(frame)
        if grade > threshold:
            found.append(frame)
        if grade > stop:
            stopped = True
            break
    return found, (checked if keep_all else len(checked)), worst, stopped


def explore(calc, starts, cfg, iteration: int, bar=None, keep_all=False) -> Exploration:
    """Run every exploration trajectory of this iteration with the calculator `calc`;
    keep_all also keeps every checked frame (for random selection)."""
    ex = cfg.explore
    out = Exploration()
    for k, (i, temperature, strain) in enumerate(runs(starts, ex)):
        rng = np.random.default_rng([cfg.seed, iteration, k])
        found, checked, worst, stopped = run_trajectory(
            strained(starts[i], strain), calc, temperature, ex.steps, ex.timestep, ex.stride,
            ex.friction, cfg.threshold, ex.max_grade_stop, rng, keep_all=keep_all)
        for f in found + (checked if keep_all else []):
            f.info.update({"al_iteration": iteration, "al_run": k, "al_strain": strain})
        out.candidates += found
        if keep_all:
            out.checked += checked
        out.n_frames += len(checked) if keep_all else checked
        out.max_grade = max(out.max_grade, worst)
        out.n_stopped += int(stopped)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(candidates=len(out.candidates), max_grade=f"{out.max_grade:.3g}")
    return out
