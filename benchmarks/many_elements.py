"""Fit cost and accuracy with many elements: EMT-labelled random five-element fcc alloys.

Data (made once, cached in --out): random Al-Cu-Ni-Pd-Pt fcc solid solutions of 180 atoms
(3 x 3 x 5 conventional cells) labelled with ASE's EMT: Langevin MD frames at 300, 800
and 1500 K, strained cells (+-3 %, rattled) and a vacancy cell. Training: --n-train
configurations (seed 1); test: --n-test configurations of new random alloys (seed 2).
Also --elements 3 or 4 (the first elements of that list, same structures).

Each variant is fitted in its own process (`ace_lin.fit.driver.fit`, 'auto' searches as in
a default `ace-lin fit`), so that its wall time and peak resident memory (ru_maxrss of
the child) are its own. Prints one row per variant: elements, n_basis, fit wall time (s),
peak memory (GB), test energy MAE (meV/atom) and force MAE (eV/A). The rest of the wall
time after search, assembly and solve is the posterior and active set (trust/from_fit.py)
and writing the model file.

    OMP_NUM_THREADS=2 python3 benchmarks/many_elements.py [--out DIR] [--elements 5]
        [--variants default,order3] [--n-train 20] [--n-test 6]

    python3 benchmarks/many_elements.py --evidence-cost [--p 2000 --m 600]

--evidence-cost times one evidence evaluation of a streamed factor of m < p random rows
(BLRSolver.log_evidence, which works on the m data rows) against the bidiagonalization of
the whole p x p factor (the route before), median of 3 each, and exits.

    python3 benchmarks/many_elements.py --md-cost

--md-cost times energy + forces + stress (ACECalculator, the C core that LAMMPS also runs)
of a 2048-atom random fcc alloy: the five-element `small` model against the one-element
`small` model (Cu), the full five-element expansion at the three-element `small` degrees
(the default before the many-element presets) and a chemical embedding with 2 species
channels at those degrees, on the same positions, median of 3 calls, microseconds per
atom, and exits. Coefficients are random: the cost does not depend on their values.

--large-p N overrides the basis size above which the searches take their cheaper path
(fit/search.py LARGE_P): a large N runs the full searches, to measure what the cheaper path
costs in accuracy.

Variants: default = the `small` preset for that number of elements; full = the degrees of
the three-element `small` preset ([10, 10, 8, 6], the full species expansion the default
for 5 elements had before the many-element presets; slow: tens of minutes for 5
elements); any other name must be given as NAME=D1:D2:D3[:D4][/K][@W] (explicit degrees, order =
their count; /K: chemical embedding with K species channels, BasisSpec.species_channels;
@W: w_l, default 1.5).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from machine import machine_info  # noqa: E402

ELEMENTS = ("Al", "Cu", "Ni", "Pd", "Pt")
A_MIX = 3.85          # A, about the mean of EMT's fcc lattice constants of these elements
REPEAT = (3, 3, 5)    # 180 atoms


def labelled(atoms):
    """A copy of atoms with EMT energy (eV), forces (eV/A) and stress (eV/A^3, ASE sign)."""
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    a = atoms.copy()
    a.calc = EMT()
    out = atoms.copy()
    out.calc = SinglePointCalculator(out, energy=a.get_potential_energy(),
                                     forces=a.get_forces(), stress=a.get_stress())
    return out


def random_alloy(rng, elements):
    from ase.build import bulk

    a = bulk("Cu", "fcc", a=A_MIX, cubic=True).repeat(REPEAT)
    a.set_chemical_symbols(list(rng.choice(elements, size=len(a))))
    return a


def md_frames(rng, elements, temperature, n, every=40):
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import thermalize_momenta
    from ase.calculators.emt import EMT

    a = random_alloy(rng, elements)
    a.calc = EMT()
    thermalize_momenta(a, temperature_K=temperature, rng=rng)
    md = Langevin(a, 2.0 * units.fs, temperature_K=temperature, friction=0.02, fixcm=False, rng=rng)
    md.run(100)  # leave the perfect lattice
    frames = []
    for _ in range(n):
        md.run(every)
        f = labelled(a)
        f.info["config_type"] = f"md{temperature}"
        frames.append(f)
    return frames


def strained(rng, elements, n):
    frames = []
    for _ in range(n):
        a = random_alloy(rng, elements)
        eps = rng.uniform(-0.03, 0.03, size=(3, 3))
        a.set_cell(a.cell.array @ (np.eye(3) + 0.5 * (eps + eps.T)), scale_atoms=True)
        a.positions += rng.normal(0, 0.05, a.positions.shape)
        f = labelled(a)
        f.info["config_type"] = "strained"
        frames.append(f)
    return frames


def vacancy(rng, elements):
    a = random_alloy(rng, elements)
    del a[int(rng.integers(len(a)))]
    a.positions += rng.normal(0, 0.05, a.positions.shape)
    f = labelled(a)
    f.info["config_type"] = "vacancy"
    return [f]


def dataset(seed, n, elements):
    """n configurations: about 3/5 MD (three temperatures), the rest strained, one vacancy."""
    rng = np.random.default_rng(seed)
    n_md = max(3, (3 * n) // 5)
    per_t = [n_md // 3 + (i < n_md % 3) for i in range(3)]
    frames = []
    for t, k in zip((300, 800, 1500), per_t):
        frames += md_frames(rng, elements, t, k)
    frames += strained(rng, elements, max(n - n_md - 1, 0))
    frames += vacancy(rng, elements)
    return frames[:n]


def ensure_data(out, n_elements, n_train, n_test):
    from ase.io import write

    paths = {}
    for part, seed, n in (("train", 1, n_train), ("test", 2, n_test)):
        path = os.path.join(out, f"alloy{n_elements}_{part}_{n}.extxyz")
        if not os.path.exists(path):
            tmp = path + ".tmp"
            write(tmp, dataset(seed, n, ELEMENTS[:n_elements]), format="extxyz")
            os.replace(tmp, path)
        paths[part] = path
    return paths


def variant_basis(name):
    if name == "default":
        return {"size": "small"}
    if name == "full":
        return {"size": None, "order": 4, "degree": [10, 10, 8, 6], "w_l": 1.5, "r_cut": 5.0}
    if "=" in name:
        label, degs = name.split("=", 1)
        degs, _, w_l = degs.partition("@")
        degs, _, k = degs.partition("/")
        deg = [int(d) for d in degs.split(":")]
        out = {"size": None, "order": len(deg), "degree": deg, "w_l": float(w_l or 1.5), "r_cut": 5.0}
        if k:
            out["species_channels"] = int(k)
        return out
    raise SystemExit(f"unknown variant {name!r} (default, full or NAME=D1:D2:...[/K][@W])")


def fit_one(args):
    """Child process: one fit; prints a JSON line with its numbers."""
    from ace_lin.fit import search
    from ace_lin.fit.driver import fit

    if args.large_p is not None:
        search.LARGE_P = args.large_p
    basis = variant_basis(args.variant)
    if basis.get("size") is None:
        basis.pop("size")
    cfg = {"data": {"train": args.train, "test": args.test}, "e0": "fit", "basis": basis,
           "output": os.path.join(args.out, f"model_{args.tag}.json"),
           "assembly": {"progress": False}}
    t0 = time.perf_counter()
    _, report = fit(cfg)
    wall = time.perf_counter() - t0
    te = report.test_errors
    print("RESULT " + json.dumps({"n_basis": report.n_basis, "wall": wall, "seconds": report.seconds,
                                  "energy_mae": te["energy_mae"], "force_mae": te["force_mae"],
                                  "r_scale": (report.r_scale_search or {}).get("factor"),
                                  "prior": (report.prior_search or {}).get("p")}))


def run_variant(out, paths, variant, tag, large_p=None):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--variant", variant,
           "--train", paths["train"], "--test", paths["test"], "--out", out, "--tag", tag]
    if large_p is not None:
        cmd += ["--large-p", str(large_p)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    text = proc.stdout.read()
    if status != 0:
        raise SystemExit(f"variant {variant} failed (status {status})")
    line = [ln for ln in text.splitlines() if ln.startswith("RESULT ")][-1]
    res = json.loads(line[len("RESULT "):])
    res["peak_gb"] = usage.ru_maxrss / 1024 ** 2  # ru_maxrss is in kB on Linux
    return res


def evidence_cost(p, m, repeats=3):
    from ace_lin.fit._bidiag import singular_values_and_projection
    from ace_lin.fit.assemble import StreamingQR
    from ace_lin.fit.solvers import BLRSolver, column_norms

    rng = np.random.default_rng(0)
    acc = StreamingQR(p)
    acc.add(rng.normal(size=(m, p)), rng.normal(size=m))
    F = acc.factor()
    R, q = F[:p, :p], F[:p, p]
    blr = BLRSolver()
    new, old = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        blr.log_evidence(R, q, n_rows=m)
        new.append(time.perf_counter() - t)
        t = time.perf_counter()
        singular_values_and_projection(R / column_norms(R)[None, :], q)
        old.append(time.perf_counter() - t)
    print(f"p = {p}, m = {m} rows: log_evidence on the data rows {np.median(new):.2f} s, "
          f"bidiagonalization of the p x p factor {np.median(old):.2f} s, ratio "
          f"{np.median(old) / np.median(new):.1f} (median of {repeats})")


def md_cost(repeats=3):
    from ace_lin import ACECalculator, BasisSpec, LinearACEModel
    from ace_lin.fit.presets import preset
    from ase.build import bulk

    rng = np.random.default_rng(0)
    base = bulk("Cu", "fcc", a=A_MIX, cubic=True).repeat((8, 8, 8))
    base.positions += rng.normal(0, 0.05, base.positions.shape)
    rows = []
    full = dict(preset("small", 3))  # the full expansion at the three-element degrees
    # chemical embedding, 2 channels at the same degrees (weights: random, the cost does not
    # depend on them)
    embedded = dict(full, species_channels=2,
                    species_weights={e: rng.uniform(0.2, 1.0, size=(2, 5)) for e in ELEMENTS})
    for els, fields in ((ELEMENTS[:1], preset("small", 1)), (ELEMENTS, preset("small", 5)),
                        (ELEMENTS, full), (ELEMENTS, embedded)):
        spec = BasisSpec(elements=els, **fields)
        model = LinearACEModel(spec, rng.normal(size=spec.n_basis) * 1e-3,
                               e0={e: 0.0 for e in els})
        atoms = base.copy()
        atoms.set_chemical_symbols(list(rng.choice(els, size=len(atoms))))
        times = []
        for _ in range(repeats + 1):  # the first call builds the neighbour list and tables
            atoms.calc = ACECalculator(model)
            t = time.perf_counter()
            atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
            times.append(time.perf_counter() - t)
        us = np.median(times[1:]) / len(atoms) * 1e6
        rows.append((len(els), spec.n_basis, us))
        kind = f", {spec.species_channels} species channels" if spec.species_channels else ""
        print(f"{len(els)} element(s){kind}, n_basis {spec.n_basis}: {us:.1f} us/atom per call "
              f"(energy, forces, stress; {len(atoms)} atoms)", flush=True)
    print(f"ratio five / one element: {rows[1][2] / rows[0][2]:.2f} (full expansion at the "
          f"three-element degrees: {rows[2][2] / rows[0][2]:.2f}; embedded, 2 channels, same "
          f"degrees: {rows[3][2] / rows[0][2]:.2f})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="many_elements_out")
    ap.add_argument("--elements", default="5", help="comma-separated counts, e.g. 3,5")
    ap.add_argument("--variants", default="default")
    ap.add_argument("--n-train", type=int, default=20)
    ap.add_argument("--n-test", type=int, default=6)
    ap.add_argument("--evidence-cost", action="store_true")
    ap.add_argument("--md-cost", action="store_true")
    ap.add_argument("--large-p", type=int, default=None,
                    help="override fit/search.py LARGE_P (e.g. 100000: the searches in full)")
    ap.add_argument("--p", type=int, default=2000)
    ap.add_argument("--m", type=int, default=600)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--train", help=argparse.SUPPRESS)
    ap.add_argument("--test", help=argparse.SUPPRESS)
    ap.add_argument("--tag", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.md_cost:
        print(machine_info())
        md_cost()
        return
    if args.evidence_cost:
        print(machine_info())
        evidence_cost(args.p, args.m)
        return
    os.makedirs(args.out, exist_ok=True)
    if args.child:
        fit_one(args)
        return
    print(machine_info())
    print(f"data: EMT random fcc alloys, {np.prod(REPEAT) * 4} atoms, {args.n_train} train / "
          f"{args.n_test} test configurations")
    print("| elements | variant | n_basis | fit wall (s) | of it search+assembly, solve (s) | "
          "peak memory (GB) | test energy MAE (meV/atom) | test force MAE (eV/A) | "
          "r_scale factor | prior p |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in (int(x) for x in args.elements.split(",")):
        paths = ensure_data(args.out, n, args.n_train, args.n_test)
        for v in args.variants.split(","):
            r = run_variant(args.out, paths, v, f"{n}_{v.split('=')[0]}", args.large_p)
            sec = r["seconds"]
            print(f"| {'-'.join(ELEMENTS[:n])} | {v} | {r['n_basis']} | {r['wall']:.0f} | "
                  f"{sec['transform'] + sec['assemble']:.0f}, {sec['solve']:.0f} | "
                  f"{r['peak_gb']:.2f} | {r['energy_mae']:.2f} | {r['force_mae']:.3f} | "
                  f"{r['r_scale'] if r['r_scale'] is None else round(r['r_scale'], 3)} | "
                  f"{r['prior']} |", flush=True)


if __name__ == "__main__":
    main()
