"""Does the extrapolation grade warn before an MD run goes unphysical? Ethanol, small preset.

Fits the shared ethanol data with `ace-lin fit` (small preset, active set on), then runs
NVE MD of one molecule from 600 K (0.5 fs steps, 4 ps) for seeds 1-5 twice: unmonitored, to
see whether and when the run fails (temperature above 5000 K, a bond shorter than 0.6 A or
the total energy off by more than 0.1 eV/atom from its start), and monitored (the largest
per-atom grade every 10 steps; the run stops when it passes the threshold). Prints per seed
the step of failure, the step of the stop, the largest grade, and whether the stop came
first; and the largest grade of the runs that never fail (a threshold must leave them alone).

    python3 benchmarks/trust_ethanol_stability.py [--data ../shared/data] [--threshold 5] [--out DIR]
"""
import argparse
import os
import subprocess
import sys

import numpy as np
from ase import units
from ase.constraints import FixCom
from ase.io import read
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.md.verlet import VelocityVerlet

sys.path.insert(0, os.path.dirname(__file__))
from machine import machine_info  # noqa: E402

STEPS, DT_FS, T0, EVERY = 8000, 0.5, 600.0, 10


def failed(atoms, e0_per_atom):
    d = atoms.get_all_distances()
    np.fill_diagonal(d, np.inf)
    e = (atoms.get_potential_energy() + atoms.get_kinetic_energy()) / len(atoms)
    return atoms.get_temperature() > 5000 or d.min() < 0.6 or abs(e - e0_per_atom) > 0.1


def run(model, start, seed, threshold=None):
    """(step of failure or None, step of stop or None, largest grade seen)."""
    from ace_lin.calculator import ACECalculator

    atoms = start.copy()
    atoms.calc = ACECalculator(model, grade=threshold is not None)
    thermalize_momenta(atoms, temperature_K=T0, rng=np.random.default_rng(seed))
    Stationary(atoms)
    atoms.set_constraint(FixCom())
    dyn = VelocityVerlet(atoms, timestep=DT_FS * units.fs)
    e0 = (atoms.get_potential_energy() + atoms.get_kinetic_energy()) / len(atoms)
    worst = 0.0
    for step in range(EVERY, STEPS + 1, EVERY):
        dyn.run(EVERY)
        if threshold is not None:
            g = float(atoms.calc.results["max_gamma"])
            worst = max(worst, g)
            if g > threshold:
                return (step if failed(atoms, e0) else None), step, worst
        if failed(atoms, e0):
            return step, None, worst
    return None, None, worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--data", default=os.path.join(here, "..", "..", "shared", "data"))
    ap.add_argument("--threshold", type=float, default=5.0)
    ap.add_argument("--out", default="/tmp/ace_lin_ethanol_trust")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    model = os.path.join(args.out, "ethanol_small.json")
    if not os.path.exists(model):
        cfg = os.path.join(args.out, "fit.yaml")
        with open(cfg, "w") as fh:
            fh.write(f"data:\n  train: {os.path.abspath(args.data)}/ethanol_train.xyz\n"
                     f"basis:\n  size: small\nassembly:\n  progress: false\noutput: {model}\n")
        subprocess.run([sys.executable, "-m", "ace_lin.cli.main", "fit", cfg], check=True,
                       stdout=subprocess.DEVNULL)
    from ace_lin.model import load_model

    m = load_model(model)
    start = read(os.path.join(args.data, "ethanol_train.xyz"), 0)
    print(machine_info())
    print(f"ethanol small model, NVE from {T0:.0f} K, {DT_FS} fs x {STEPS} steps; grade every "
          f"{EVERY} steps, threshold {args.threshold}")
    print(f"{'seed':>4s} {'fails at step':>13s} {'stopped at':>10s} {'max grade':>10s}  verdict")
    quiet = []
    for seed in range(1, 6):
        fail_step, _, _ = run(m, start, seed)
        _, stop_step, worst = run(m, start, seed, threshold=args.threshold)
        if fail_step is None:
            quiet.append(worst)
            verdict = "stable; " + ("not stopped" if stop_step is None else "stopped (false alarm)")
        else:
            verdict = "stopped before the failure" if stop_step is not None and stop_step < fail_step \
                else "NOT stopped in time"
        print(f"{seed:4d} {str(fail_step):>13s} {str(stop_step):>10s} {worst:10.3g}  {verdict}")
    if quiet:
        print(f"largest grade of the stable runs: {max(quiet):.3g}")


if __name__ == "__main__":
    main()
