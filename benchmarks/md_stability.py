"""Stability of long hot runs: NVT (CSVR) at 1200 K with the fitted Si and Mo `large`
models, through `ace-lin md` on the LAMMPS engine.

Checks per run, from trajectory.extxyz and thermo.csv: the shortest interatomic distance
over all frames (target: no pair closer than 1.5 A), the atom count of every frame (no lost
atoms) and the mean temperature after the first 10 % (target: within 5 % of 1200 K). The
perfect start lattice gets velocities of 2 T, which equipartition brings to about T.

    python benchmarks/md_stability.py --ps 100       # the issue's target
    python benchmarks/md_stability.py --ps 1         # a quick check
"""
import argparse
import os
import sys
import time

import numpy as np

from md_common import cubic_cell, default_workdir, fitted_model, header, run

REPS = {"Si": [4, 4, 4], "Mo": [6, 6, 6]}  # 512 and 432 atoms


def min_distance(path):
    from ase.io import iread
    from ase.neighborlist import neighbor_list

    dmin, counts = np.inf, set()
    for a in iread(path):
        counts.add(len(a))
        d = neighbor_list("d", a, 3.0)
        if len(d):
            dmin = min(dmin, float(d.min()))
    return dmin, counts


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ps", type=float, default=100.0)
    p.add_argument("--size", default="large")
    p.add_argument("--elements", nargs="+", default=["Si", "Mo"])
    p.add_argument("--engine", default="lammps")
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--temperature", type=float, default=1200.0)
    p.add_argument("--workdir")
    args = p.parse_args(argv)
    work = args.workdir or default_workdir()
    steps = int(round(args.ps * 1000 / 50)) * 50
    rows = []
    for el in args.elements:
        model = fitted_model(el, args.size, work)
        cell = cubic_cell(el, os.path.join(work, f"{el}_conv.xyz"))
        out = os.path.join(work, f"nvt{args.temperature:g}_{el}_{args.size}_{args.engine}_{steps}")
        cfg = {"model": model, "structure": cell, "supercell": REPS[el], "engine": args.engine,
               "ranks": args.ranks, "threads": args.threads, "timestep": 1.0, "seed": 5,
               "stride": 50, "checkpoint_every": max(1000, steps // 20 // 50 * 50),
               "output": out, "ensemble": "nvt-csvr", "temperature": args.temperature,
               # a perfect lattice gives half its kinetic energy to the potential: start at 2 T
               "initial_temperature": 2 * args.temperature,
               "tau": 100.0, "steps": steps}
        t0 = time.perf_counter()
        run(cfg, progress=True)
        wall = time.perf_counter() - t0
        from ace_lin.md.outputs import read_thermo

        th = read_thermo(os.path.join(out, "thermo.csv"))
        late = th["temperature_K"][th["time_fs"] >= 0.1 * th["time_fs"][-1]]
        dmin, counts = min_distance(os.path.join(out, "trajectory.extxyz"))
        rows.append((el, len(th["step"]), wall, dmin, counts, late.mean()))
    print("\n" + header([f"NVT CSVR {args.temperature:g} K, tau 100 fs, 1 fs, {args.size} models, "
                         f"{args.engine} engine, {args.ranks} rank(s) x {args.threads} thread(s)"]))
    print(f"{'element':<8}{'ps':>7}{'wall s':>9}{'min dist A':>12}{'atoms':>8}{'T mean K':>10}"
          f"{'T dev %':>9}  verdict")
    for el, n, wall, dmin, counts, tm in rows:
        dev = 100 * (tm - args.temperature) / args.temperature
        ok = dmin > 1.5 and len(counts) == 1 and abs(dev) < 5
        print(f"{el:<8}{steps / 1000:>7.1f}{wall:>9.1f}{dmin:>12.3f}{'/'.join(map(str, counts)):>8}"
              f"{tm:>10.1f}{dev:>9.2f}  {'ok' if ok else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
