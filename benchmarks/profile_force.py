"""Where the time of one force call goes: fractions per stage of the C core.

Compiles benchmarks/profile_force.c against csrc/ (the flags of setup.py's portable build;
--native adds -march=native) and runs it on a 2000-atom Si diamond cell (a = 5.43 A,
rattled by 0.05 A) for each model: per-stage times are medians over --repeats passes of
every atom, 1 thread. Stages: gather = bond checks + core pair term + radial functions +
harmonics (the last two are timed again alone and shown as parts of it; "gather, rest" is
the remainder: bond checks, distances, the ZBL term, copying), density = A projection,
products = products and their adjoint dE/dA, backprop = dE/dA to per-bond gradients,
scatter = per-bond gradients to forces and virial (acelin_evaluate), neighbour list = the C
cell list. "library call" is the untimed acelin_compute on the same input: the sum of the
timed stages over it shows the timer overhead.

Models: one-element presets (`small` and `large` unless --models) with the radii a fit on
this cell would derive and random coefficients (the cost does not depend on their values),
or model files given with --model.
With --lammps, the plugin built from this tree runs 2016-atom Si NVE (300 K, 1 fs) for a few
hundred steps and the "Pair" time of LAMMPS's breakdown minus the core's time on that cell
is the adapter (bond list + force scatter).

    python3 benchmarks/profile_force.py [--repeats 5] [--models small,large] [--lammps]
"""
import argparse
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
CSRC = os.path.join(REPO, "csrc")

ROWS = [("radial", "  radial functions"), ("harmonics", "  harmonics"),
        ("gather_rest", "  gather, rest"), ("density", "density (A)"),
        ("products", "products + adjoint"), ("backprop", "backprop to bonds"),
        ("scatter", "force/virial scatter"), ("neighbour_list", "neighbour list (C)")]


# runs a revision's own generator without its package (whose __init__ needs built extensions)
GENERATE = """import os, sys, types
root, out = sys.argv[1], sys.argv[2]
for name in ("ace_lin", "ace_lin.basis", "ace_lin.codegen"):
    mod = types.ModuleType(name)
    mod.__path__ = [os.path.join(root, *name.split("."))]
    sys.modules[name] = mod
try:  # older revisions keep the writer in emit_c
    from ace_lin.codegen.generated import write_generated_sources
except ImportError:
    from ace_lin.codegen.emit_c import write_generated_sources
write_generated_sources(out)
"""


def export_csrc(rev, tmp):
    """csrc/ of git revision rev in tmp/rev-src/csrc, with the kernels its own generator
    emits, and its own harness, tmp/rev-src/benchmarks/profile_force.c (the harness calls
    internal kernels, whose names change between revisions)."""
    import tarfile

    out = os.path.join(tmp, "rev-src")
    os.makedirs(out)
    tar = os.path.join(tmp, "rev.tar")
    paths = ["csrc", "benchmarks/profile_force.c", "ace_lin/codegen/emit_c.py", "ace_lin/basis/ylm.py"]
    if subprocess.run(["git", "cat-file", "-e", f"{rev}:ace_lin/codegen/generated.py"],
                      cwd=REPO, capture_output=True).returncode == 0:
        paths.append("ace_lin/codegen/generated.py")
    res = subprocess.run(["git", "archive", "-o", tar, rev, *paths], cwd=REPO,
                         capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"git archive {rev} failed: {res.stderr.strip()}")
    with tarfile.open(tar) as tf:
        tf.extractall(out)
    res = subprocess.run([sys.executable, "-c", GENERATE, out, os.path.join(out, "csrc", "generated")],
                         capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"the generator of {rev} failed:\n{res.stderr[-3000:]}")
    return os.path.join(out, "csrc")


def compile_harness(tmp, native, csrc=CSRC, name="profile_force"):
    gen = os.path.join(csrc, "generated")
    if not os.path.isdir(gen) or not any(f.endswith(".h") for f in os.listdir(gen)):
        sys.exit("csrc/generated is missing: build the extensions first (setup.py build_ext)")
    srcs = [os.path.join(csrc, f) for f in sorted(os.listdir(csrc)) if f.endswith(".c")]
    srcs += [os.path.join(gen, f) for f in sorted(os.listdir(gen)) if f.endswith(".c")]
    flags = ["-O3", "-std=c99", "-fno-math-errno", "-fopenmp"]
    if native:
        flags += ["-march=native", "-mprefer-vector-width=256"]
    exe = os.path.join(tmp, name)
    cc = os.environ.get("CC", "cc")
    harness = os.path.join(os.path.dirname(csrc), "benchmarks", "profile_force.c")  # csrc's own
    cmd = [cc] + flags + ["-I" + csrc, "-I" + gen, harness] + srcs + ["-o", exe, "-lm"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit("compiling the harness failed:\n" + res.stderr[-3000:])
    return exe, " ".join(flags)


def si_cell():
    from ase.build import bulk

    atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat((10, 5, 5))
    atoms.rattle(0.05, seed=0)
    return atoms


def write_input(path, atoms, elements):
    import numpy as np

    from ace_lin.evaluate import species_indices

    n = len(atoms)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<i", n))
        fh.write(np.ascontiguousarray(atoms.cell.array, dtype="<f8").tobytes())
        fh.write(np.asarray(atoms.pbc, dtype="<i4").tobytes())
        fh.write(np.ascontiguousarray(atoms.positions, dtype="<f8").tobytes())
        fh.write(np.asarray(species_indices(atoms, elements), dtype="<i4").tobytes())


def random_model(size, path):
    """The preset's basis with the radii a fit on this cell would derive (fit/radii.py: the
    preset cutoff is a floor, raised to 1.85 x the nearest-neighbour distance) and random
    coefficients (the cost does not depend on their values)."""
    from types import SimpleNamespace

    import numpy as np

    from ace_lin import BasisSpec, LinearACEModel
    from ace_lin.fit.presets import preset
    from ace_lin.fit.radii import data_radii

    fields = preset(size)
    fields.update(data_radii([SimpleNamespace(atoms=si_cell())], ["Si"], fields))
    spec = BasisSpec(elements=["Si"], **fields)
    coeffs = np.random.default_rng(0).normal(size=spec.n_basis) * 1e-3
    LinearACEModel(spec, coeffs, e0={"Si": 0.0}).save(path)
    return path


def run_harness(exe, model, inp, repeats):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run([exe, model, inp, str(repeats)], capture_output=True, text=True, env=env)
    if res.returncode != 0:
        sys.exit(f"harness failed on {model}:\n{res.stderr}")
    out = {}
    for line in res.stdout.splitlines():
        k, v = line.split()
        out[k] = float(v)
    out["gather_rest"] = out["gather"] - out["radial"] - out["harmonics"]
    return out


def lammps_pair_time(model, steps=200):
    """Seconds per atom-step of LAMMPS's "Pair" row, 2016-atom Si NVE, 1 rank, and the
    cell's positions after the run (the core is timed on them by the caller)."""
    from ace_lin.lammps.plugin import build_plugin, lammps_commands, open_lammps

    plugin = build_plugin()
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "log.lammps")
        lmp = open_lammps(args=("-log", log, "-screen", "none"))
        lmp.commands_list(["units metal", "atom_style atomic", "lattice diamond 5.43",
                           "region box block 0 6 0 6 0 7", "create_box 1 box",
                           "create_atoms 1 box", "mass 1 28.0855"] +
                          lammps_commands(model, ["Si"], library=plugin) +
                          ["neighbor 1.0 bin", "neigh_modify every 1 delay 0 check yes",
                           "velocity all create 300.0 87287 mom yes rot yes dist gaussian",
                           "timestep 0.001", "fix nve all nve", "thermo 1000", "run 20",
                           f"run {steps}"])
        n = lmp.get_natoms()
        lmp.close()
        with open(log) as fh:
            text = fh.read()
    rows = re.findall(r"^(\w+)\s*\|\s*([0-9.eE+-]+)\s*\|\s*([0-9.eE+-]+)", text, re.M)
    last = {}
    for name, _, avg in rows:  # the last run's breakdown wins
        last[name] = float(avg)
    loop = re.findall(r"Loop time of ([0-9.eE+-]+)", text)
    return {"pair": last["Pair"] / steps / n, "neigh": last.get("Neigh", 0.0) / steps / n,
            "loop": float(loop[-1]) / steps / n, "atoms": n}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--models", default="small,large",
                    help="preset names (random coefficients) or model files, comma separated")
    ap.add_argument("--native", action="store_true", help="compile with -march=native")
    ap.add_argument("--lammps", action="store_true", help="also time the LAMMPS adapter")
    ap.add_argument("--against", metavar="REV",
                    help="also time the core of git revision REV (same run, same input): "
                         "the ratio of library calls REV / this tree")
    args = ap.parse_args()
    from machine import machine_info

    print(machine_info())
    print("load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    with tempfile.TemporaryDirectory(prefix="acelin-profile-") as tmp:
        exe, flags = compile_harness(tmp, args.native)
        ref_exe = None
        if args.against:
            ref_exe, _ = compile_harness(tmp, args.native, export_csrc(args.against, tmp), "profile_ref")
        print(f"harness flags: {flags}; 1 thread; median of {args.repeats} passes")
        atoms = si_cell()
        inp = os.path.join(tmp, "si.bin")
        write_input(inp, atoms, ["Si"])
        results = {}
        for name in [m for m in args.models.split(",") if m]:
            path = name if name.endswith(".json") else random_model(name, os.path.join(tmp, f"{name}.json"))
            r = run_harness(exe, path, inp, args.repeats)
            if ref_exe:  # interleaved with this tree's run, so both see the same load
                ref = run_harness(ref_exe, path, inp, args.repeats)
                again = run_harness(exe, path, inp, args.repeats)
                r["against"] = {"library_call": ref["library_call"], "backprop": ref["backprop"],
                                "this_again": again["library_call"]}
            if args.lammps:
                lmp = lammps_pair_time(path)
                r["lammps"] = lmp
            results[os.path.basename(name)] = r
    n = len(atoms)
    names = list(results)
    print(f"\nSi diamond, {n} atoms; fraction of the timed total per stage (us/atom in brackets)")
    head = f"{'stage':<24}" + "".join(f"{nm:>20}" for nm in names)
    print(head + "\n" + "-" * len(head))
    for key, label in ROWS:
        cells = []
        for nm in names:
            r = results[nm]
            tot = sum(r[k] for k, _ in ROWS)
            cells.append(f"{r[key] / tot:>10.3f} ({r[key] / n * 1e6:6.2f})")
        print(f"{label:<24}" + "".join(f"{c:>20}" for c in cells))
    print("-" * len(head))
    for label, fn in [("timed total, us/atom", lambda r: sum(r[k] for k, _ in ROWS) / n * 1e6),
                      ("library call, us/atom", lambda r: r["library_call"] / n * 1e6),
                      ("n_basis", lambda r: r["n_basis"]),
                      ("neighbours in range", lambda r: r["active_neighbours"] / n)]:
        print(f"{label:<24}" + "".join(f"{fn(results[nm]):>20.2f}" for nm in names))
    if args.against:
        print(f"\nlibrary call of {args.against} / this tree (this tree timed before and after it):")
        for nm in names:
            a = results[nm]["against"]
            mine = 0.5 * (results[nm]["library_call"] + a["this_again"])
            print(f"  {nm:<10} {a['library_call'] / n * 1e6:8.2f} / {mine / n * 1e6:8.2f} us/atom = "
                  f"{a['library_call'] / mine:5.2f}x")
    if args.lammps:
        print("\nLAMMPS, 2016-atom Si NVE 300 K, 1 rank, 1 thread, us/atom/step:")
        for nm in names:
            lm = results[nm]["lammps"]
            core = results[nm]["library_call"] / n
            print(f"  {nm:<10} loop {lm['loop'] * 1e6:7.2f}  Pair {lm['pair'] * 1e6:7.2f}  "
                  f"Neigh {lm['neigh'] * 1e6:6.2f}  core alone {core * 1e6:7.2f}  "
                  f"adapter (Pair - core) {(lm['pair'] - core) * 1e6:6.2f} "
                  f"({(lm['pair'] - core) / lm['pair']:.3f} of Pair)")
    print("\nJSON " + json.dumps({k: {kk: vv for kk, vv in v.items()} for k, v in results.items()}))


if __name__ == "__main__":
    main()
