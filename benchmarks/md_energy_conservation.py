"""NVE energy conservation: 512-atom Si (4 x 4 x 4 conventional cells), 300 K
start, 1 fs, on the ASE and the LAMMPS engine, through `ace-lin md` configs.

Reports the drift of E_tot (slope of a straight-line fit, meV/atom/ns; target below 1)
and its fluctuation around the line (meV/atom), from thermo.csv.

    python benchmarks/md_energy_conservation.py --ps 100          # the issue's target run
    python benchmarks/md_energy_conservation.py --ps 0.5          # a quick check
"""
import argparse
import os
import sys
import time

import numpy as np

from md_common import cubic_cell, default_workdir, fitted_model, header, run


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ps", type=float, default=100.0, help="simulated time per engine (ps)")
    p.add_argument("--size", default="small", help="model preset (small | large)")
    p.add_argument("--engines", nargs="+", default=["lammps", "ase"])
    p.add_argument("--ranks", type=int, default=2, help="MPI ranks of the LAMMPS engine")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workdir", help="models and MD output folders (default: the ace_lin cache)")
    args = p.parse_args(argv)
    work = args.workdir or default_workdir()
    model = fitted_model("Si", args.size, work)
    cell = cubic_cell("Si", os.path.join(work, "si_conv.xyz"))
    steps = int(round(args.ps * 1000 / 10)) * 10
    rows = []
    for engine in args.engines:
        out = os.path.join(work, f"nve_{engine}_{args.size}_{steps}")
        cfg = {"model": model, "structure": cell, "supercell": [4, 4, 4], "engine": engine,
               "ranks": args.ranks, "threads": args.threads, "timestep": 1.0, "seed": 11,
               "stride": 10, "checkpoint_every": max(1000, steps // 20 // 10 * 10),
               "output": out, "ensemble": "nve", "temperature": 300.0, "steps": steps}
        t0 = time.perf_counter()
        _, summary = run(cfg, progress=True)
        wall = time.perf_counter() - t0
        from ace_lin.analysis.energy import energy_stats
        from ace_lin.md.outputs import read_thermo

        th = read_thermo(os.path.join(out, "thermo.csv"))
        s = energy_stats(th["time_fs"], th["temperature_K"], th["epot_eV"], th["ekin_eV"], 512)
        rows.append((engine, steps, wall, s))
    print("\n" + header([f"Si {args.size} model, 512 atoms, NVE 1 fs from 300 K (Maxwell-Boltzmann, "
                         f"zero momentum), LAMMPS on {args.ranks} rank(s) x {args.threads} thread(s)"]))
    print(f"{'engine':<8}{'ps':>8}{'wall s':>9}{'T mean K':>10}{'drift meV/atom/ns':>19}"
          f"{'fluct meV/atom':>16}")
    for engine, steps, wall, s in rows:
        print(f"{engine:<8}{steps / 1000:>8.2f}{wall:>9.1f}{s['temperature_mean_K']:>10.1f}"
              f"{s['etot_drift_meV_per_atom_per_ns']:>19.4f}{s['etot_fluctuation_meV_per_atom']:>16.4f}")
    print("(drift: slope of a line fitted to E_tot/atom; a resumed output folder is reused, "
          "delete it to start over)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
