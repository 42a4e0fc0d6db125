"""The text of MD frames: ace_lin's extended-XYZ frame against Python's own formatting.

`ace-lin md` writes every frame of trajectory.extxyz with ace_lin.md.outputs.format_frame
(on LAMMPS while converting the binary dump after the run, on ASE at every frame). Its
per-atom rows, ten numbers each, are formatted in C on OpenMP threads
(ace_lin.md._rows). The reference in the same run is the same frame formatted with
Python's % operator, one row at a time (the formatting before ace_lin.md._rows), which
must give the same text; the script stops otherwise. Random Si positions, velocities,
forces and energies; milliseconds per frame, medians over --rounds rounds in which the
variants alternate, and each variant's time over the reference's in the same round.

    python3 benchmarks/frame_text_speed.py --atoms 1000 100000 --threads 1 2
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the source tree

from machine import machine_info  # noqa: E402 (benchmarks/, beside this file)
from ace_lin.md import outputs  # noqa: E402
from ace_lin.md._rows import format_rows  # noqa: E402


def python_frame(symbols, cell, pbc, pos, vel, forces, energies, info):
    """The frame as format_frame writes it, every number through Python's % operator."""
    head = ['Lattice="%s"' % " ".join(outputs.FLOAT % v for v in np.asarray(cell).ravel()),
            "Properties=species:S:1:pos:R:3:velocities:R:3:forces:R:3:energies:R:1"]
    head += [f"{k}={v}" if isinstance(v, int) else f"{k}={outputs.FLOAT % v}" for k, v in info]
    head.append('pbc="%s"' % " ".join("T" if p else "F" for p in pbc))
    rows = np.column_stack([pos, vel, forces, energies])
    fmt = "%s" + (" " + outputs.FLOAT) * rows.shape[1]
    lines = [f"{len(symbols)}", " ".join(head)]
    lines += [fmt % (s, *row) for s, row in zip(symbols, rows.tolist())]
    return "\n".join(lines) + "\n"


def ace_frame(threads):
    def frame(symbols, cell, pbc, pos, vel, forces, energies, info):
        rows = np.column_stack([pos, vel, forces, energies])
        head = outputs.format_frame(symbols[:0], cell, pbc, pos[:0], vel[:0], forces[:0],
                                    energies[:0], info)
        return f"{len(symbols)}" + head[1:] + format_rows(symbols, rows, threads)
    return frame


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--atoms", type=int, nargs="+", default=[1000, 100000])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="OpenMP threads of ace_lin's rows")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--seconds", type=float, default=0.3, help="least time of one variant in a round")
    args = p.parse_args(argv)
    print(machine_info())
    print(f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} (shared machines are noisy)")
    rng = np.random.default_rng(0)
    print(f"\nms per frame (median of {args.rounds} rounds); / Python: the round's ratio, median")
    print(f"{'atoms':>8} {'variant':>22} {'ms/frame':>10} {'/ Python':>9}")
    for n in args.atoms:
        data = (["Si"] * n, np.diag([30.0, 31.0, 32.0]), [True] * 3,
                rng.uniform(0, 30, (n, 3)), rng.normal(0, 0.005, (n, 3)),
                rng.normal(0, 1.0, (n, 3)), rng.normal(-5.4, 0.1, n),
                outputs.frame_info(100, 50.0, -5.4 * n, 0.04 * n, 300.0, 0.12, 1.7))
        variants = [("Python % (reference)", python_frame)] + \
            [(f"ace_lin, {t} thread(s)", ace_frame(t)) for t in args.threads]
        ref = python_frame(*data)
        for name, f in variants[1:]:
            if f(*data) != ref:
                sys.exit(f"{name}: the text differs from Python's")
        times = {name: [] for name, _ in variants}
        for _ in range(args.rounds):
            for name, f in variants:
                reps, t0 = 0, time.perf_counter()
                while True:
                    f(*data)
                    reps += 1
                    if time.perf_counter() - t0 > args.seconds:
                        break
                times[name].append((time.perf_counter() - t0) / reps)
        base = times[variants[0][0]]
        for name, _ in variants:
            ratio = statistics.median(t / b for t, b in zip(times[name], base))
            print(f"{n:>8} {name:>22} {statistics.median(times[name]) * 1e3:>10.3f} {ratio:>9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
