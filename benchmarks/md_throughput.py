"""MD throughput in simulated ns/day against system size, through `ace-lin md`.

Si diamond cells of about 10^3, 10^4 and 10^5 atoms (the presets of --presets, `small`
unless given; each fitted to mlearn Si once in the workdir), NVE 1 fs from 300 K:
LAMMPS engine on 1 and 2 MPI ranks, ASE engine on the 10^3 cell, each in a fresh folder,
median of repeats. Time per step: LAMMPS's own "Loop time" summed over the run's segments
(the engine's start-up, plugin load and dump conversion excluded); ASE: the run's wall time
over its steps (frames, thermo rows and checkpoints included, as in production). The last
column, "wall", is the whole run's wall time per step on either engine (start-up, and on
LAMMPS the dump's conversion into trajectory.extxyz and thermo.csv, included).
Cost per atom-step (us) should stay flat with size.

    python benchmarks/md_throughput.py                               # all sizes
    python benchmarks/md_throughput.py --sizes 1000 --steps 50       # a quick check
    python benchmarks/md_throughput.py --presets fast large --ranks 1 --ase-max-atoms 0
    python benchmarks/md_throughput.py --sizes 1000 --stride 1 --grade-every 0 10 --ranks 1

--stride sets the frame spacing (default: one frame at each end of the run); --grade-every
runs each case once per value (steps between graded frames, 0: every frame, the default of
`ace-lin md`), and the column "/ first" is each row's time over the first value's.
"""
import argparse
import os
import shutil
import statistics
import sys
import time

from md_common import cubic_cell, default_workdir, fitted_model, header, run
from ace_lin.fit.presets import BASIS_PRESETS  # md_common put the repository on the path

REPS = {1000: [5, 5, 5], 10000: [11, 11, 10], 100000: [23, 23, 24]}  # x 8 atoms


def seconds_per_step(cfg):
    """(time per MD step, wall time of the whole run per step) of one fresh run (see the
    module docstring); the wall time also holds the engine's start-up and, on LAMMPS, the
    conversion of the dump into the outputs."""
    import glob
    import re

    if os.path.exists(cfg["output"]):
        shutil.rmtree(cfg["output"])
    t0 = time.perf_counter()
    run(cfg)
    wall = time.perf_counter() - t0
    if cfg["engine"] != "lammps":
        return wall / cfg["steps"], wall / cfg["steps"]
    loop, steps = 0.0, 0
    for path in glob.glob(os.path.join(cfg["output"], "lammps", "screen.*.txt")):
        for m in re.finditer(r"Loop time of ([0-9.eE+-]+) on \d+ procs for (\d+) steps", open(path).read()):
            loop += float(m.group(1))
            steps += int(m.group(2))
    return loop / steps, wall / cfg["steps"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    p.add_argument("--steps", type=int, default=200, help="steps of the shorter run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--ase-max-atoms", type=int, default=1000)
    p.add_argument("--presets", nargs="+", default=["small"], choices=sorted(BASIS_PRESETS),
                   help="basis presets, each fitted to mlearn Si")
    p.add_argument("--stride", type=int, help="steps between frames (default: --steps)")
    p.add_argument("--grade-every", type=int, nargs="+", default=[0],
                   help="steps between graded frames; 0: every frame (default)")
    p.add_argument("--workdir")
    args = p.parse_args(argv)
    work = args.workdir or default_workdir()
    models = {name: fitted_model("Si", name, work) for name in args.presets}
    cell = cubic_cell("Si", os.path.join(work, "si_conv.xyz"))
    cases = []
    for name in args.presets:
        for size in args.sizes:
            reps = REPS.get(size) or [round((size / 8) ** (1 / 3))] * 3
            for ranks in args.ranks:
                cases.append((name, "lammps", ranks, size, reps))
            if size <= args.ase_max_atoms:
                cases.append((name, "ase", 1, size, reps))
    rows = []
    stride = args.stride or args.steps
    for name, engine, ranks, size, reps in cases:
        n_atoms = 8 * reps[0] * reps[1] * reps[2]
        per_step = {g: [] for g in args.grade_every}
        walls = {g: [] for g in args.grade_every}
        for r in range(args.repeats):
            for g in args.grade_every:  # interleaved, so that a noisy spell hits every value
                cfg = {"model": models[name], "structure": cell, "supercell": reps,
                       "engine": engine, "ranks": ranks, "threads": args.threads,
                       "timestep": 1.0, "seed": r, "stride": stride,
                       "checkpoint_every": args.steps,
                       "output": os.path.join(work, f"tp_{engine}_{ranks}_{n_atoms}"),
                       "ensemble": "nve", "temperature": 300.0, "steps": args.steps}
                if g:
                    cfg["grade_every"] = g
                loop, wall = seconds_per_step(cfg)
                per_step[g].append(loop)
                walls[g].append(wall)
        first = statistics.median(per_step[args.grade_every[0]])
        for g, times in per_step.items():
            sec = statistics.median(times)
            rows.append((name, engine, ranks, n_atoms, g, sec, min(times), max(times), sec / first,
                         statistics.median(walls[g])))
            print(f"{name} {engine} {ranks} rank(s) {n_atoms} atoms, grade every {g or stride}: "
                  f"{sec * 1e3:.2f} ms/step", flush=True)
    print("\n" + header([f"Si, presets {', '.join(args.presets)}, NVE 1 fs, {args.threads} OpenMP thread(s) "
                         f"per rank, {args.steps} steps per run, a frame every {stride}, "
                         f"{args.repeats} repeats, median"]))
    print(f"{'preset':<8}{'engine':<8}{'ranks':>6}{'atoms':>8}{'grade every':>12}{'ms/step':>10}"
          f"{'us/atom/step':>14}{'ns/day':>9}{'(min-max ns/day)':>20}{'/ first':>9}"
          f"{'wall ms/step':>14}")
    for name, engine, ranks, n, g, sec, lo, hi, ratio, wall in rows:
        nsd = lambda s: 1e-6 / s * 86400  # noqa: E731  (1 fs per step)
        print(f"{name:<8}{engine:<8}{ranks:>6}{n:>8}{g or stride:>12}{sec * 1e3:>10.2f}"
              f"{sec / n * 1e6:>14.2f}{nsd(sec):>9.3g}{f'({nsd(hi):.3g}-{nsd(lo):.3g})':>20}"
              f"{ratio:>9.2f}{wall * 1e3:>14.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
