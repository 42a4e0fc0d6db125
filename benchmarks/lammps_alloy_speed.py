"""LAMMPS MD speed of the default five-element model against the one-element `small` model,
same run, same 2000-atom fcc cell.

    OMP_NUM_THREADS=1 python3 benchmarks/lammps_alloy_speed.py [--out DIR] [--rounds 5] [--ranks 1]

Models: a default `ace-lin fit` (the `small` preset for that number of elements) of the
EMT-labelled data of benchmarks/many_elements.py, five elements (Al-Cu-Ni-Pd-Pt random
solid solutions) and one element (Al, the same structures), fitted once and kept in --out.
Cell: 5 x 5 x 20 conventional fcc cells at a = 3.85 A (2000 atoms), a random five-element
alloy for the five-element model, all Al for the one-element model, NVE 1 fs from 300 K.
The two models are measured in alternating rounds (each a separate `mpirun` of the worker
in benchmarks/lammps_md_speed.py, one timed run of ~--target-seconds after a warm-up), so
that a change of the machine's load hits both; the table gives the median microseconds per
atom per step and the median over rounds of the ratio five / one element.
"""
import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lammps_md_speed as speed  # noqa: E402
import many_elements as me  # noqa: E402
from machine import machine_info  # noqa: E402

REPEAT = (5, 5, 20)  # 2000 atoms


def model_for(out, n_elements):
    """Path of the default fit for n_elements, fitted here the first time (preset in the name)."""
    from ace_lin.fit.presets import preset

    tag = hashlib.sha256(json.dumps(preset("small", n_elements), sort_keys=True).encode())
    tag = f"{n_elements}_default_{tag.hexdigest()[:10]}"
    path = os.path.join(out, f"model_{tag}.json")
    if not os.path.isfile(path):
        print(f"fitting the default {n_elements}-element model ...", flush=True)
        paths = me.ensure_data(out, n_elements, 20, 6)
        me.run_variant(out, paths, "default", tag)
    return path


def data_file(out, elements, seed=0):
    """A LAMMPS data file (masses included) of the 2000-atom cell with random species."""
    from ase.build import bulk
    from ase.io import write

    path = os.path.join(out, f"cell_{'-'.join(elements)}.data")
    if not os.path.isfile(path):
        rng = np.random.default_rng(seed)
        atoms = bulk("Cu", "fcc", a=me.A_MIX, cubic=True).repeat(REPEAT)
        atoms.set_chemical_symbols(list(rng.choice(elements, size=len(atoms))))
        tmp = path + ".tmp"
        write(tmp, atoms, format="lammps-data", specorder=list(elements), masses=True)
        os.replace(tmp, path)
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", help="data, models and cells (default: the ace_lin cache, benchmarks/alloy)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--ranks", type=int, default=1)
    p.add_argument("--target-seconds", type=float, default=3.0)
    p.add_argument("--timeout", type=float, default=1800.0)
    args = p.parse_args(argv)
    args.repeats = 1  # one timed run per worker; the rounds are the repeats
    from ace_lin.lammps.plugin import build_plugin, lammps_commands

    if not args.out:
        from ace_lin.codegen.cache import cache_dir

        args.out = os.path.join(cache_dir(), "benchmarks", "alloy")
    os.makedirs(args.out, exist_ok=True)
    plugin = build_plugin()
    cases = []
    for n in (1, 5):
        els = me.ELEMENTS[:n]
        path = model_for(args.out, n)
        with open(path) as fh:
            n_basis = len(json.load(fh)["coefficients"])
        case = (f"{n}el", els[0], f"{n} element(s), small ({n_basis} fn)", path,
                lammps_commands(path, list(els), library=plugin))
        cases.append((case, data_file(args.out, els)))
    us = {c[0]: [] for c, _ in cases}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for case, data in cases:
                res = speed.measure(case, (args.ranks, 1), args, tmp, data=data)
                us[case[0]].append(res["us"][0])
                print(f"round {r + 1}: {case[2]}: {res['us'][0]:.2f} us/atom/step "
                      f"({res['atoms']} atoms, {res['steps']} steps)", flush=True)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n{machine_info()}\nload average {load}; {args.ranks} rank(s) x 1 thread, NVE 1 fs "
          f"from 300 K, {args.rounds} alternating rounds of ~{args.target_seconds:g} s")
    print("| model | atoms | us/atom/step (median) | min-max |")
    print("|---|---|---|---|")
    for case, _ in cases:
        v = us[case[0]]
        print(f"| {case[2]} | 2000 | {statistics.median(v):.2f} | {min(v):.2f}-{max(v):.2f} |")
    ratios = [a / b for a, b in zip(us["5el"], us["1el"])]
    print(f"five / one element, median over rounds: {statistics.median(ratios):.2f} "
          f"(rounds {', '.join(f'{x:.2f}' for x in ratios)}; target at most 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
