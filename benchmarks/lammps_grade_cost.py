"""Cost of the extrapolation grade in LAMMPS: microseconds per atom per MD step with
`fix g all pair N acelin gamma 1` for N = 1 (every step) and N = 10, against no grade.

Si diamond, 1000 atoms (5x5x5 cells, a = 5.43 A), NVE at 600 K, 1 fs, skin 1.0 A; one MPI
rank, OpenMP threads from --threads; median of --repeats timed runs of --steps steps after
a warm-up, all in one LAMMPS instance per (model, threads) so that the three variants share
the machine's state. Models: the `small` and `large` presets with random coefficients and an
active set of random maps G of the shape a fit writes (m x m, m = invariants of the element;
--active r < m gives m x r, the size of a set restricted to r columns); the cost does not
depend on the values. The grade is computed by a second pass of the core over the
atoms (acelin_grade) on the steps fix pair asks for.

    python3 benchmarks/lammps_grade_cost.py [--models small,large] [--steps 100] [--repeats 3]
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

VARIANTS = (("none", None), ("every 10", 10), ("every step", 1))


def graded_model(name, active, path):
    import numpy as np

    from ace_lin import BasisSpec, LinearACEModel
    from ace_lin.fit.presets import preset

    spec = BasisSpec(elements=["Si"], **preset(name))
    rng = np.random.default_rng(0)
    m = spec.n_basis
    LinearACEModel(spec, rng.normal(size=m) * 1e-3, e0={"Si": 0.0},
                   active_set={"Si": rng.normal(size=(m, min(active, m) if active > 0 else m))}).save(path)
    return spec.n_basis


def measure(model, plugin, steps, repeats):
    """{variant: median seconds per run of `steps` steps}."""
    from ace_lin.lammps.plugin import lammps_commands, open_lammps

    lmp = open_lammps()
    try:
        lmp.commands_list([
            "units metal", "atom_style atomic",
            "lattice diamond 5.43", "region box block 0 5 0 5 0 5", "create_box 1 box",
            "create_atoms 1 box", "mass 1 28.0855"] + lammps_commands(model, ["Si"], library=plugin) + [
            "neighbor 1.0 bin", "neigh_modify every 1 delay 0 check yes",
            "velocity all create 600.0 87287 mom yes rot yes dist gaussian",
            "timestep 0.001", "fix nve all nve", "thermo 100000", "run 5"])
        n = lmp.get_natoms()
        out = {}
        for label, every in VARIANTS:
            if every:
                lmp.commands_list([f"fix g all pair {every} acelin gamma 1",
                                   "compute gmax all reduce max f_g"])
            lmp.command("run 10 pre yes post no")  # set-up with the fix, warm-up
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                lmp.command(f"run {steps} pre no post no")
                times.append(time.perf_counter() - t0)
            if every:
                gmax = lmp.extract_compute("gmax", 0, 0)
                assert gmax > 0, "the grade was not computed"
                lmp.commands_list(["uncompute gmax", "unfix g"])
            out[label] = statistics.median(times) / (n * steps) * 1e6
        return n, out
    finally:
        lmp.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="small,large")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--active", type=int, default=0,
                    help="columns r of the grade map per element (0: m, as a fit writes it)")
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before liblammps loads libgomp
    from machine import machine_info

    from ace_lin.lammps.plugin import build_plugin

    plugin = build_plugin()
    print(machine_info())
    print(f"LAMMPS, 1 MPI rank, {args.threads} OpenMP thread(s); Si diamond; median of {args.repeats} "
          f"runs of {args.steps} steps; microseconds per atom per step")
    print(f"{'model':6s} {'n_basis':>7s} {'atoms':>5s} " +
          " ".join(f"{label:>11s}" for label, _ in VARIANTS) +
          f" {'ratio N=10':>10s} {'ratio N=1':>9s}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in [m for m in args.models.split(",") if m]:
            path = os.path.join(tmp, f"Si_{name}.json")
            nb = graded_model(name, args.active, path)
            n, us = measure(path, plugin, args.steps, args.repeats)
            base = us["none"]
            print(f"{name:6s} {nb:7d} {n:5d} " + " ".join(f"{us[label]:11.2f}" for label, _ in VARIANTS)
                  + f" {us['every 10'] / base:10.3f} {us['every step'] / base:9.3f}")


if __name__ == "__main__":
    main()
