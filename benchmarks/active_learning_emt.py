"""Active learning against a stand-in oracle: ASE's EMT for Cu.

Starts from ten near-equilibrium frames (32-atom fcc cells, rattled, +-1 % strain) and runs
`ace-lin active-learn` twice with the same exploration (300-1500 K, +-5 % strain) and the same
number of labels per iteration: once selecting by the active set's volume (the default) and
once choosing uniformly at random among all exploration frames (`selection: random`). After
every iteration the model of that iteration is scored against EMT on independent frames:
1200 K MD of a 108-atom cell, strained cells (+-5 %), a vacancy and a (111) surface slab.

Prints per iteration: labels, energy RMSE (meV/atom) and force RMSE (eV/A) of both runs,
and at the end whether active selection reaches a lower force RMSE at equal labels and
random's final force RMSE with at most half of its labels. Writes al_emt.png (force RMSE
against labels).

    python3 benchmarks/active_learning_emt.py [--out DIR] [--iterations 8] [--per-iteration 4]
"""
import argparse
import json
import os
import sys
import time

import numpy as np
from ase import units
from ase.build import bulk, fcc111
from ase.calculators.emt import EMT
from ase.constraints import FixCom
from ase.io import read, write
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import thermalize_momenta

sys.path.insert(0, os.path.dirname(__file__))
from machine import machine_info  # noqa: E402

A_CU = 3.59  # EMT's fcc lattice constant for Cu, A


def labelled(atoms):
    from ase.calculators.singlepoint import SinglePointCalculator

    a = atoms.copy()
    a.set_constraint()
    a.calc = EMT()
    e, f = a.get_potential_energy(), a.get_forces()
    s = a.get_stress() if all(a.pbc) else None
    out = atoms.copy()
    out.set_constraint()
    out.calc = SinglePointCalculator(out, energy=e, forces=f, **({"stress": s} if s is not None else {}))
    return out


def start_frames(rng, n=10):
    frames = []
    for _ in range(n):
        a = bulk("Cu", "fcc", a=A_CU, cubic=True).repeat(2)
        a.set_cell(a.cell.array * (1 + rng.uniform(-0.01, 0.01)), scale_atoms=True)
        a.positions += rng.normal(0, 0.03, a.positions.shape)
        frames.append(labelled(a))
    return frames


def md_frames(atoms, temperature, n, every, rng):
    a = atoms.copy()
    a.calc = EMT()
    thermalize_momenta(a, temperature_K=temperature, rng=rng)
    a.set_constraint(FixCom())
    dyn = Langevin(a, 2 * units.fs, temperature_K=temperature, friction=0.02 / units.fs, rng=rng,
                   fixcm=False)
    out = []
    for _ in range(n):
        dyn.run(every)
        out.append(labelled(a))
    return out


def test_frames(rng):
    """Independent frames, labelled by EMT: (group name, frames)."""
    big = bulk("Cu", "fcc", a=A_CU, cubic=True).repeat(3)
    groups = [("md_1200K", md_frames(big, 1200, 8, 50, rng))]
    strained = []
    for s in (-0.05, -0.03, 0.03, 0.05):
        a = bulk("Cu", "fcc", a=A_CU * (1 + s), cubic=True).repeat(2)
        a.positions += rng.normal(0, 0.05, a.positions.shape)
        strained.append(labelled(a))
    groups.append(("strained", strained))
    vac = bulk("Cu", "fcc", a=A_CU, cubic=True).repeat(2)
    del vac[0]
    groups.append(("vacancy", md_frames(vac, 600, 4, 40, rng)))
    slab = fcc111("Cu", size=(3, 3, 4), a=A_CU, vacuum=6.0, periodic=True)
    groups.append(("surface", md_frames(slab, 600, 4, 40, rng)))
    return groups


def errors(model_path, groups):
    from ace_lin.calculator import ACECalculator

    calc = ACECalculator(model_path, grade=False)
    de, df = [], []
    for _, frames in groups:
        for f in frames:
            a = f.copy()
            a.calc = calc
            de.append((a.get_potential_energy() - f.get_potential_energy()) / len(a))
            df.append((a.get_forces() - f.get_forces()).ravel())
    return 1000 * float(np.sqrt(np.mean(np.square(de)))), float(np.sqrt(np.mean(np.square(np.concatenate(df)))))


def run(out, selection, iterations, per_iteration, seed):
    import yaml

    from ace_lin.learn.config import parse
    from ace_lin.learn.loop import run_loop

    raw = {"fit": {"data": {"train": os.path.join(out, "start.extxyz")}, "basis": {"size": "small"},
                   "assembly": {"progress": False}},
           "oracle": {"calculator": "ase.calculators.emt.EMT"},
           "structures": [os.path.join(out, "start.extxyz")],
           "explore": {"temperatures": [300, 900, 1500], "strains": [-0.05, 0.0, 0.05],
                       "steps": 200, "timestep": 2.0, "stride": 10},
           "threshold": 1.5, "select_per_iteration": per_iteration,
           "budget": per_iteration * iterations, "iterations": iterations, "seed": seed,
           "selection": selection, "output": os.path.join(out, f"run_{selection}")}
    with open(os.path.join(out, f"al_{selection}.yaml"), "w") as fh:
        yaml.safe_dump(raw, fh)
    t0 = time.perf_counter()
    state = run_loop(parse(raw, out), progress=False)
    return state, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/ace_lin_al_emt")
    ap.add_argument("--iterations", type=int, default=8)
    ap.add_argument("--per-iteration", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    start = os.path.join(args.out, "start.extxyz")
    if not os.path.exists(start):
        write(start, start_frames(rng))
    test_path = os.path.join(args.out, "test.json")
    groups = test_frames(rng)
    print(machine_info())
    print(f"oracle: EMT Cu; start: 10 frames of 32 atoms; test: "
          + ", ".join(f"{n} {len(f)}" for n, f in groups))
    table = {}
    for selection in ("maxvol", "random"):
        state, wall = run(args.out, selection, args.iterations, args.per_iteration, args.seed)
        root = os.path.join(args.out, f"run_{selection}")
        rows = [(0, *errors(os.path.join(root, "iterations", "initial", "model.json"), groups))]
        for r in state["rows"]:
            path = os.path.join(root, "iterations", f"{r['iteration']:03d}", "model.json")
            if os.path.exists(path):
                rows.append((r["labels"], *errors(path, groups)))
        table[selection] = rows
        print(f"{selection}: finished ({state['finished']}) in {wall:.0f} s")
    print(f"{'labels':>6s} {'maxvol E meV/at':>15s} {'F eV/A':>8s} {'random E meV/at':>15s} {'F eV/A':>8s}")
    by_labels = {sel: {n: (e, f) for n, e, f in rows} for sel, rows in table.items()}
    for n in sorted(set(by_labels["maxvol"]) | set(by_labels["random"])):
        a = by_labels["maxvol"].get(n, (np.nan, np.nan))
        b = by_labels["random"].get(n, (np.nan, np.nan))
        print(f"{n:6d} {a[0]:15.2f} {a[1]:8.4f} {b[0]:15.2f} {b[1]:8.4f}")
    common = sorted(set(by_labels["maxvol"]) & set(by_labels["random"]) - {0})
    lower = all(by_labels["maxvol"][n][1] < by_labels["random"][n][1] for n in common)
    final_n = max(by_labels["random"])
    final_f = by_labels["random"][final_n][1]
    half = [n for n, (e, f) in by_labels["maxvol"].items() if f <= final_f]
    print(f"active lower force RMSE at every common label count ({common}): {lower}")
    print(f"random's final force RMSE {final_f:.4f} eV/A ({final_n} labels) reached by active with "
          f"{min(half) if half else 'no'} labels (target <= {final_n // 2})")
    with open(os.path.join(args.out, "al_emt.json"), "w") as fh:
        json.dump(table, fh)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for sel, rows in table.items():
        ax.plot([r[0] for r in rows], [r[2] for r in rows], "o-", label=sel)
    ax.set_xlabel("labels (EMT calls)")
    ax.set_ylabel("force RMSE on independent frames (eV/A)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "al_emt.png"), dpi=110)
    print(f"plot: {os.path.join(args.out, 'al_emt.png')}")


if __name__ == "__main__":
    main()
