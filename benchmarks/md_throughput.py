"""MD throughput in simulated ns/day against system size, through `ace-lin md`.

Si diamond cells of about 10^3, 10^4 and 10^5 atoms (small preset), NVE 1 fs from 300 K:
LAMMPS engine on 1 and 2 MPI ranks, ASE engine on the 10^3 cell. Each case runs `steps`
and `2 * steps` steps in fresh folders; the throughput is taken from the difference of the
two wall times (start-up, plugin load and neighbour-list setup cancel), median of repeats.
Cost per atom-step (us) = wall / (steps * atoms) should stay flat with size.

    python benchmarks/md_throughput.py                               # all sizes
    python benchmarks/md_throughput.py --sizes 1000 --steps 50       # a quick check
"""
import argparse
import os
import shutil
import statistics
import sys
import time

from md_common import cubic_cell, default_workdir, fitted_model, header, run

REPS = {1000: [5, 5, 5], 10000: [11, 11, 10], 100000: [23, 23, 24]}  # x 8 atoms


def timed(cfg):
    if os.path.exists(cfg["output"]):
        shutil.rmtree(cfg["output"])
    t0 = time.perf_counter()
    run(cfg)
    return time.perf_counter() - t0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    p.add_argument("--steps", type=int, default=200, help="steps of the shorter run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--ase-max-atoms", type=int, default=1000)
    p.add_argument("--workdir")
    args = p.parse_args(argv)
    work = args.workdir or default_workdir()
    model = fitted_model("Si", "small", work)
    cell = cubic_cell("Si", os.path.join(work, "si_conv.xyz"))
    cases = []
    for size in args.sizes:
        reps = REPS.get(size) or [round((size / 8) ** (1 / 3))] * 3
        for ranks in args.ranks:
            cases.append(("lammps", ranks, size, reps))
        if size <= args.ase_max_atoms:
            cases.append(("ase", 1, size, reps))
    rows = []
    for engine, ranks, size, reps in cases:
        n_atoms = 8 * reps[0] * reps[1] * reps[2]
        per_step = []
        for r in range(args.repeats):
            walls = []
            for steps in (args.steps, 2 * args.steps):
                cfg = {"model": model, "structure": cell, "supercell": reps, "engine": engine,
                       "ranks": ranks, "threads": args.threads, "timestep": 1.0, "seed": r,
                       "stride": args.steps, "checkpoint_every": args.steps,
                       "output": os.path.join(work, f"tp_{engine}_{ranks}_{n_atoms}_{steps}"),
                       "ensemble": "nve", "temperature": 300.0, "steps": steps}
                walls.append(timed(cfg))
            per_step.append((walls[1] - walls[0]) / args.steps)
        sec = statistics.median(per_step)
        rows.append((engine, ranks, n_atoms, sec, min(per_step), max(per_step)))
        print(f"{engine} {ranks} rank(s) {n_atoms} atoms: {sec * 1e3:.2f} ms/step", flush=True)
    print("\n" + header([f"Si small preset, NVE 1 fs, {args.threads} OpenMP thread(s) per rank, "
                         f"stride = checkpoint = {args.steps} steps, {args.repeats} repeats, median"]))
    print(f"{'engine':<8}{'ranks':>6}{'atoms':>8}{'ms/step':>10}{'us/atom/step':>14}{'ns/day':>9}"
          f"{'(min-max ns/day)':>20}")
    for engine, ranks, n, sec, lo, hi in rows:
        nsd = lambda s: 1e-6 / s * 86400  # noqa: E731  (1 fs per step)
        print(f"{engine:<8}{ranks:>6}{n:>8}{sec * 1e3:>10.2f}{sec / n * 1e6:>14.2f}{nsd(sec):>9.3g}"
              f"{f'({nsd(hi):.3g}-{nsd(lo):.3g})':>20}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
