"""Speed of the C evaluator: microseconds per atom per force call.

A Si-like model (1 element, nu <= 4, the `small` and `large` presets, r_cut from the
preset; "large-5A" is the large preset without its 7 A long-range channel, "large-L16" the
large preset with the earlier long channel, degrees (16, 16) and l <= 7, see README) on a
2000-atom diamond cell (a = 5.43 A, rattled by 0.05 A): median of 5 calls,
1 and 2 OpenMP threads, for the core alone (energies and per-bond gradients) and for the
whole ASE calculator call (neighbour list + core + force scatter). Coefficients are
random: the cost does not depend on their values.

    python3 benchmarks/core_speed.py [--repeats 5]
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
from ase.build import bulk

sys.path.insert(0, os.path.dirname(__file__))
from machine import machine_info  # noqa: E402

from ace_lin import ACECalculator, BasisSpec, LinearACEModel  # noqa: E402
from ace_lin.evaluate import species_indices  # noqa: E402
from ace_lin.fit.presets import preset  # noqa: E402
from ace_lin.neighbours import neighbour_list_from_atoms  # noqa: E402


def timed(fn, repeats):
    fn()  # warm-up (allocations, caches)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat((10, 5, 5))
    atoms.rattle(0.05, seed=0)
    n = len(atoms)
    print(machine_info())
    print(f"structure: Si diamond, {n} atoms; median of {args.repeats} calls; times in microseconds per atom")
    print(f"{'model':9s} {'n_basis':>7s} {'r_cut A':>7s} {'neigh/atom':>10s} {'threads':>7s} "
          f"{'core us/atom':>12s} {'calc us/atom':>12s} {'speed-up':>8s}")
    for name in ("small", "large-5A", "large", "large-L16"):
        fields = preset(name.split("-")[0])
        if name.endswith("-5A"):
            fields = {k: v for k, v in fields.items() if not k.startswith("long_")}
        if name.endswith("-L16"):  # the earlier, angular-rich long channel (README)
            fields.update(long_degree=[16, 16], long_lmax=None)
        spec = BasisSpec(elements=["Si"], **fields)
        coeffs = np.random.default_rng(0).normal(size=spec.n_basis)
        model = LinearACEModel(spec, coeffs, e0={"Si": 0.0})
        nl = neighbour_list_from_atoms(atoms, model.core.max_cutoff)
        species = species_indices(atoms, spec.elements)
        nspec = species[nl.j]
        base = None
        for nt in (1, 2):
            t_core = timed(lambda: model.core.compute(species, nl.start, nspec, nl.dr, n_threads=nt),
                           args.repeats)
            calc = ACECalculator(model, n_threads=nt)

            def call():
                calc.reset()
                calc.calculate(atoms, ["energy", "forces"])

            t_calc = timed(call, args.repeats)
            base = base or t_core
            print(f"{name:9s} {spec.n_basis:7d} {model.cutoff:7.2f} {nl.n_bonds / n:10.1f} {nt:7d} "
                  f"{t_core / n * 1e6:12.2f} {t_calc / n * 1e6:12.2f} {base / t_core:8.2f}")


if __name__ == "__main__":
    main()
