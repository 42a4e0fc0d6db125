"""Active learning against a stand-in oracle: ASE's EMT for Cu.

Starts from ten near-equilibrium frames (32-atom fcc cells, rattled, +-1 % strain) and runs
`ace-lin active-learn` twice with the same exploration (300-1500 K, +-5 % strain) and the same
number of labels per iteration: once selecting by the active set's volume (the default) and
once choosing uniformly at random among all exploration frames (`selection: random`). After
every iteration the model of that iteration is scored against EMT on independent frames:
1200 K MD of a 108-atom cell, strained cells (+-5 %), a vacancy and a (111) surface slab.

Prints per seed and iteration: labels, energy RMSE (meV/atom) and force RMSE (eV/A) of both
runs; then the mean and median over seeds, and per seed and for the seed mean whether active selection reaches a lower force RMSE at equal labels and
random's final force RMSE with at most half of its labels. Writes al_emt.png (force RMSE
against labels).

    python3 benchmarks/active_learning_emt.py [--out DIR] [--iterations 8] [--per-iteration 4]
                                               [--seeds 1,2,3]
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


def one_seed(out, seed, groups, iterations, per_iteration):
    """{selection: {labels: (E RMSE meV/atom, F RMSE eV/A)}} of one seed's two runs."""
    os.makedirs(out, exist_ok=True)
    start = os.path.join(out, "start.extxyz")
    if not os.path.exists(start):
        write(start, start_frames(np.random.default_rng(seed)))
    table = {}
    for selection in ("maxvol", "random"):
        state, wall = run(out, selection, iterations, per_iteration, seed)
        root = os.path.join(out, f"run_{selection}")
        rows = {0: errors(os.path.join(root, "iterations", "initial", "model.json"), groups)}
        for r in state["rows"]:
            path = os.path.join(root, "iterations", f"{r['iteration']:03d}", "model.json")
            if os.path.exists(path):
                rows[r["labels"]] = errors(path, groups)
        table[selection] = rows
        print(f"seed {seed}, {selection}: finished ({state['finished']}) in {wall:.0f} s", flush=True)
    return table


def verdict(by_labels):
    """(active lower at every common label count, labels active needs for random's final
    force RMSE, random's final label count)."""
    common = sorted(set(by_labels["maxvol"]) & set(by_labels["random"]) - {0})
    lower = all(by_labels["maxvol"][n][1] < by_labels["random"][n][1] for n in common)
    final_n = max(by_labels["random"])
    final_f = by_labels["random"][final_n][1]
    reach = [n for n, (e, f) in by_labels["maxvol"].items() if f <= final_f]
    return lower, (min(reach) if reach else None), final_n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/ace_lin_al_emt")
    ap.add_argument("--iterations", type=int, default=8)
    ap.add_argument("--per-iteration", type=int, default=4)
    ap.add_argument("--seeds", default="1",
                    help="comma-separated seeds (start frames, exploration, selection)")
    args = ap.parse_args()
    seeds = [int(x) for x in args.seeds.split(",")]
    os.makedirs(args.out, exist_ok=True)
    groups = test_frames(np.random.default_rng(1000))  # the same test frames for every seed
    print(machine_info())
    print(f"oracle: EMT Cu; start: 10 frames of 32 atoms; test: "
          + ", ".join(f"{n} {len(f)}" for n, f in groups))
    tables = {s: one_seed(os.path.join(args.out, f"seed_{s}"), s, groups, args.iterations,
                          args.per_iteration) for s in seeds}
    print()
    print("| seed | labels | maxvol E (meV/atom) | maxvol F (eV/A) | random E (meV/atom) | random F (eV/A) |")
    print("|---|---|---|---|---|---|")
    for s, t in tables.items():
        for n in sorted(set(t["maxvol"]) | set(t["random"])):
            a = t["maxvol"].get(n, (np.nan, np.nan))
            b = t["random"].get(n, (np.nan, np.nan))
            print(f"| {s} | {n} | {a[0]:.1f} | {a[1]:.3f} | {b[0]:.1f} | {b[1]:.3f} |")
    print()
    labels = sorted(set.intersection(*[set(t[sel]) for t in tables.values() for sel in t]))
    mean = {sel: {n: tuple(np.mean([t[sel][n][i] for t in tables.values()]) for i in (0, 1))
                  for n in labels} for sel in ("maxvol", "random")}
    median = {sel: {n: tuple(np.median([t[sel][n][i] for t in tables.values()]) for i in (0, 1))
                    for n in labels} for sel in ("maxvol", "random")}
    print(f"over {len(seeds)} seed(s):")
    print("| labels | maxvol F mean | random F mean | maxvol F median | random F median | seeds maxvol lower |")
    print("|---|---|---|---|---|---|")
    for n in labels:
        wins = sum(t["maxvol"][n][1] < t["random"][n][1] for t in tables.values())
        print(f"| {n} | {mean['maxvol'][n][1]:.3f} | {mean['random'][n][1]:.3f} | "
              f"{median['maxvol'][n][1]:.3f} | {median['random'][n][1]:.3f} | {wins}/{len(seeds)} |")
    for s, t in tables.items():
        lower, reach, final_n = verdict(t)
        print(f"seed {s}: active lower force RMSE at every label count: {lower}; random's final "
              f"({final_n} labels) reached by active with {reach} labels (target <= {final_n // 2})")
    lower, reach, final_n = verdict(mean)
    print(f"seed mean: active lower at every label count: {lower}; random's final reached with "
          f"{reach} labels (target <= {final_n // 2})")
    with open(os.path.join(args.out, "al_emt.json"), "w") as fh:
        json.dump({str(s): {sel: {str(n): v for n, v in t[sel].items()} for sel in t}
                   for s, t in tables.items()}, fh)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for sel, color in (("maxvol", "C0"), ("random", "C1")):
        for t in tables.values():
            ns = sorted(t[sel])
            ax.plot(ns, [t[sel][n][1] for n in ns], "-", color=color, alpha=0.3, lw=0.8)
        ax.plot(labels, [mean[sel][n][1] for n in labels], "o-", color=color, label=f"{sel} (mean)")
    ax.set_xlabel("labels (EMT calls)")
    ax.set_ylabel("force RMSE on independent frames (eV/A)")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "al_emt.png"), dpi=110)
    print(f"plot: {os.path.join(args.out, 'al_emt.png')}")


if __name__ == "__main__":
    main()
