"""MD through ASE: the ACECalculator's reused neighbour list against one built every step.

Si diamond (the presets of --presets, each fitted to mlearn Si once in the workdir, as in
md_throughput.py), rattled 0.05 A, ASE VelocityVerlet 1 fs from 600 K, 1 OpenMP thread,
no grade. Each round runs every preset with skin 0 (the neighbour list built at every
call) and with the calculator's default skin, one after the other; the table gives the
medians over rounds of the time per atom-step (us, ASE's integrator included) and of each
round's ratio, and how often the reused list was built. The two runs' final positions
must be equal bit for bit (the reused list gives the same bonds and dr); the script
stops otherwise.

    OMP_NUM_THREADS=1 python3 benchmarks/ase_md_speed.py --presets small fast --atoms 1000
"""
import argparse
import inspect
import statistics
import sys
import time

import numpy as np

from md_common import default_workdir, fitted_model, header
from ace_lin.calculator import ACECalculator  # md_common put the repository on the path
from ace_lin.fit.presets import BASIS_PRESETS
from ace_lin.model import load_model

DEFAULT_SKIN = inspect.signature(ACECalculator.__init__).parameters["skin"].default


def run(model, atoms0, skin, steps):
    """(seconds per step, final positions, list builds) of one NVE run."""
    from ase import units
    from ase.md.verlet import VelocityVerlet

    atoms = atoms0.copy()
    atoms.calc = ACECalculator(model, n_threads=1, grade=False, skin=skin)
    atoms.get_forces()  # the first list and force call outside the timing
    dyn = VelocityVerlet(atoms, 1.0 * units.fs)
    t0 = time.perf_counter()
    dyn.run(steps)
    return (time.perf_counter() - t0) / steps, atoms.positions.copy(), atoms.calc.neighbours.builds


def main(argv=None):
    from ase import units
    from ase.build import bulk

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="+", default=["small", "fast"], choices=sorted(BASIS_PRESETS))
    p.add_argument("--atoms", type=int, default=1000, help="about this many atoms (cubic cells x k^3)")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--workdir")
    args = p.parse_args(argv)
    work = args.workdir or default_workdir()
    models = {name: load_model(fitted_model("Si", name, work)) for name in args.presets}
    k = max(1, round((args.atoms / 8) ** (1 / 3)))
    atoms0 = bulk("Si", "diamond", a=5.43, cubic=True).repeat((k, k, k))
    atoms0.rattle(0.05, seed=1)
    rng = np.random.default_rng(0)
    m = atoms0.get_masses()[:, None]
    atoms0.set_momenta(rng.normal(size=(len(atoms0), 3)) * np.sqrt(m * 600 * units.kB))
    res = {name: {"fresh": [], "reused": [], "ratio": [], "builds": 0} for name in args.presets}
    for r in range(args.rounds):
        for name, model in models.items():
            t_fresh, x_fresh, _ = run(model, atoms0, 0.0, args.steps)
            t_reused, x_reused, builds = run(model, atoms0, DEFAULT_SKIN, args.steps)
            if not np.array_equal(x_fresh, x_reused):
                sys.exit(f"{name}: the reused list changed the trajectory "
                         f"(max {np.abs(x_fresh - x_reused).max():.3g} A)")
            n = len(atoms0)
            res[name]["fresh"].append(t_fresh / n * 1e6)
            res[name]["reused"].append(t_reused / n * 1e6)
            res[name]["ratio"].append(t_reused / t_fresh)
            res[name]["builds"] = builds
            print(f"round {r + 1} {name}: {t_fresh / n * 1e6:.2f} -> {t_reused / n * 1e6:.2f} us/atom/step",
                  flush=True)
    print("\n" + header([f"Si diamond, {len(atoms0)} atoms, ASE VelocityVerlet 1 fs from 600 K, 1 thread, "
                         f"{args.steps} steps per run, {args.rounds} rounds, medians; skin {DEFAULT_SKIN} A"]))
    print(f"{'preset':<8}{'built every step':>18}{'reused list':>13}{'ratio':>8}{'builds':>8}   (us/atom/step)")
    for name, v in res.items():
        print(f"{name:<8}{statistics.median(v['fresh']):>18.2f}{statistics.median(v['reused']):>13.2f}"
              f"{statistics.median(v['ratio']):>8.3f}{v['builds']:>8}")
    print("final positions equal bit for bit in every round")
    return 0


if __name__ == "__main__":
    sys.exit(main())
