"""Speed of the C evaluator: microseconds per atom per force call, for the default
(portable) build against a native one (-march=native, ACE_LIN_NATIVE=1) in the same run.

A Si-like model (1 element, nu <= 4, the `small` and `large` presets, r_cut from the
preset; "large-5A" is the large preset without its 7 A long-range channel, "large-L16" the
large preset with the earlier long channel, degrees (16, 16) and l <= 7, see README) on a
2000-atom diamond cell (a = 5.43 A, rattled by 0.05 A): median of 5 calls,
1 and 2 OpenMP threads, for the core alone (energies and per-bond gradients) and for the
whole ASE calculator call (neighbour list + core + force scatter). Coefficients are
random: the cost does not depend on their values.

The native copy of the extensions is compiled into a temporary folder
(`ACE_LIN_NATIVE=1 python setup.py build_ext --build-lib TMP`, next to a copy of the
Python package); each build is timed in its own subprocess, which prints the extension
it loaded.

    python3 benchmarks/core_speed.py [--repeats 5] [--models small,large]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MODELS = ("small", "large-5A", "large", "large-L16")


def timed(fn, repeats):
    fn()  # warm-up (allocations, caches)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def worker(models, repeats):
    """Time the build that `import ace_lin` finds; one JSON line per (model, threads)."""
    import numpy as np
    from ase.build import bulk

    import ace_lin._core
    from ace_lin import ACECalculator, BasisSpec, LinearACEModel
    from ace_lin.evaluate import species_indices
    from ace_lin.fit.presets import preset
    from ace_lin.neighbours import neighbour_list_from_atoms

    print(json.dumps({"extension": ace_lin._core.__file__}), flush=True)
    atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat((10, 5, 5))
    atoms.rattle(0.05, seed=0)
    n = len(atoms)
    for name in models:
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
        for nt in (1, 2):
            t_core = timed(lambda: model.core.compute(species, nl.start, nspec, nl.dr, n_threads=nt),
                           repeats)
            calc = ACECalculator(model, n_threads=nt)

            def call():
                calc.reset()
                calc.calculate(atoms, ["energy", "forces"])

            t_calc = timed(call, repeats)
            print(json.dumps({"model": name, "n_basis": spec.n_basis, "r_cut": model.cutoff,
                              "neigh": nl.n_bonds / n, "threads": nt,
                              "core": t_core / n * 1e6, "calc": t_calc / n * 1e6}), flush=True)


def build_native(tmp):
    """A copy of the Python package with native extensions in tmp; returns tmp."""
    shutil.copytree(os.path.join(REPO, "ace_lin"), os.path.join(tmp, "ace_lin"),
                    ignore=shutil.ignore_patterns("*.so", "*.c", "__pycache__", "_csrc"))
    env = dict(os.environ, ACE_LIN_NATIVE="1")
    cmd = [sys.executable, "setup.py", "build_ext", "--build-lib", tmp,
           "--build-temp", os.path.join(tmp, "build-temp"), "-j", "2"]
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"native build failed:\n{res.stderr[-3000:]}")
    if "-march=native" not in res.stdout + res.stderr:
        sys.exit("the native build did not use -march=native (setup.py ignored ACE_LIN_NATIVE=1?)")
    return tmp


def run_worker(label, pythonpath, models, repeats):
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([pythonpath, env.get("PYTHONPATH", "")])
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--repeats", str(repeats),
           "--models", ",".join(models)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=HERE)
    if res.returncode != 0:
        sys.exit(f"{label} worker failed:\n{res.stderr[-3000:]}")
    lines = [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith("{")]
    print(f"{label} build: {lines[0]['extension']}")
    return {(r["model"], r["threads"]): r for r in lines[1:]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    models = [m for m in args.models.split(",") if m]
    if args.worker:
        return worker(models, args.repeats)
    sys.path.insert(0, HERE)
    from machine import machine_info

    print(machine_info())
    with tempfile.TemporaryDirectory(prefix="acelin-native-") as tmp:
        t0 = time.perf_counter()
        build_native(tmp)
        print(f"native build took {time.perf_counter() - t0:.0f} s")
        default = run_worker("default (portable)", None, models, args.repeats)
        native = run_worker("native", tmp, models, args.repeats)
    print("structure: Si diamond, 2000 atoms; median of %d calls; times in microseconds per atom"
          % args.repeats)
    print(f"{'model':9s} {'n_basis':>7s} {'r_cut A':>7s} {'neigh/atom':>10s} {'threads':>7s} "
          f"{'core port.':>10s} {'core nat.':>9s} {'port/nat':>8s} "
          f"{'calc port.':>10s} {'calc nat.':>9s} {'port/nat':>8s} {'thr speed-up':>12s}")
    for (name, nt), d in default.items():
        nat = native[(name, nt)]
        one = default[(name, 1)]["core"]
        print(f"{name:9s} {d['n_basis']:7d} {d['r_cut']:7.2f} {d['neigh']:10.1f} {nt:7d} "
              f"{d['core']:10.2f} {nat['core']:9.2f} {d['core'] / nat['core']:8.2f} "
              f"{d['calc']:10.2f} {nat['calc']:9.2f} {d['calc'] / nat['calc']:8.2f} "
              f"{one / d['core']:12.2f}")


if __name__ == "__main__":
    main()
