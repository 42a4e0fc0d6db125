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
import functools
import statistics
import sys
import time

import numpy as np

from md_common import header  # benchmarks/, beside this file; puts the repository on the path
from ace_lin.md import outputs  # noqa: E402
from ace_lin.md._rows import format_rows  # noqa: E402


def python_rows(symbols, rows):
    """The rows as Python's % operator writes them, one row at a time (the reference)."""
    fmt = "%s" + (" " + outputs.FLOAT) * rows.shape[1] + "\n"
    return "".join(fmt % (s, *row) for s, row in zip(symbols, rows.tolist()))


def frame_with(rows_text):
    """format_frame with its per-atom rows written by rows_text(symbols, rows)."""
    def frame(*data):
        saved = outputs.format_rows
        outputs.format_rows = rows_text
        try:
            return outputs.format_frame(*data)
        finally:
            outputs.format_rows = saved
    return frame


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--atoms", type=int, nargs="+", default=[1000, 100000])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="OpenMP threads of ace_lin's rows")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--seconds", type=float, default=0.3, help="least time of one variant in a round")
    args = p.parse_args(argv)
    print(header())
    rng = np.random.default_rng(0)
    print(f"\nms per frame (median of {args.rounds} rounds); / Python: the round's ratio, median")
    print(f"{'atoms':>8} {'variant':>22} {'ms/frame':>10} {'/ Python':>9}")
    for n in args.atoms:
        data = (["Si"] * n, np.diag([30.0, 31.0, 32.0]), [True] * 3,
                rng.uniform(0, 30, (n, 3)), rng.normal(0, 0.005, (n, 3)),
                rng.normal(0, 1.0, (n, 3)), rng.normal(-5.4, 0.1, n),
                outputs.frame_info(100, 50.0, -5.4 * n, 0.04 * n, 300.0, 0.12, 1.7))
        variants = [("Python % (reference)", frame_with(python_rows))] + \
            [(f"ace_lin, {t} thread(s)", frame_with(functools.partial(format_rows, n_threads=t)))
             for t in args.threads]
        ref = variants[0][1](*data)
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
