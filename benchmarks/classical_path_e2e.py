"""The classical-path use case end to end, through the CLI only: fit, a nanosecond
trajectory of a 1000-atom Si cell on the LAMMPS engine, its VDOS and energy drift, and a
1-ps window at every MD step exported for VASP and Quantum ESPRESSO.

    python3 benchmarks/classical_path_e2e.py [--workdir DIR] [--ns 1] [--ranks 2]
    python3 benchmarks/classical_path_e2e.py --ns 0.002 --eq-ps 1 --window-ps 2   # rehearsal

Steps (each an `ace-lin` command run in --workdir, printed as it starts):
1. `ace-lin fit` of the `small` preset to ../shared/data/mlearn_Si_train.xyz (test errors on
   mlearn_Si_test.xyz);
2. `ace-lin md md.yaml`: 5 x 5 x 5 conventional cells (1000 atoms), 1 fs; NVT (CSVR) at
   300 K for 20 ps with a frame every 100 fs, NVE for --ns ns with a frame every 100 fs, and
   NVE for 10 ps with a frame at every step (the window for the couplings and the VDOS);
3. `ace-lin analyze` of the production stage (energy drift over the nanosecond) and of the
   last stage (VDOS, RDF);
4. `ace-lin snapshots` of the first picosecond of the last stage: --format vasp (INCAR and
   KPOINTS linked in; POTCAR is the user's, licensed) and --format qe (pw.x template).

The run resumes: run the same command again after an interruption (kill -9 included);
finished steps are skipped and the MD continues from its last checkpoint. Wall times of
every invocation are summed in timings.json (saved every 30 s while a step runs), so the
table reports the whole cost.
"""
import argparse
import json
import os
import subprocess
import sys
import time

from md_common import SHARED, cubic_cell, default_workdir, header

from ace_lin.io.atomic import atomic_write

EXPORT_FS = 1000
HEARTBEAT_S = 30.0

QE_TEMPLATE = """&CONTROL
  calculation = 'scf'
  pseudo_dir = './pseudo'
/
&SYSTEM
  ecutwfc = 20
  nat = 0
/
&ELECTRONS
  conv_thr = 1e-6
/
ATOMIC_SPECIES
Si 28.0855 Si.pbe-n-rrkjus_psl.1.0.0.UPF
K_POINTS gamma
"""
INCAR = "SYSTEM = Si snapshot\nENCUT = 250\nISMEAR = 0\nSIGMA = 0.05\nLWAVE = .TRUE.\n"
KPOINTS = "Gamma only\n0\nGamma\n1 1 1\n0 0 0\n"


def md_config(model, structure, ns, ranks, eq_fs, window_fs):
    prod = int(round(ns * 1e6))
    return {"model": model, "structure": structure, "supercell": [5, 5, 5], "engine": "lammps",
            "ranks": ranks, "threads": 1, "timestep": 1.0, "seed": 11, "stride": 100,
            "checkpoint_every": 10000, "output": "md",
            "stages": [{"ensemble": "nvt-csvr", "temperature": 300.0, "tau": 100.0, "steps": eq_fs},
                       {"ensemble": "nve", "steps": prod},
                       {"ensemble": "nve", "steps": window_fs, "stride": 1}]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", help="default: the benchmark cache folder / classical_path_NSns")
    p.add_argument("--ns", type=float, default=1.0, help="length of the NVE production (ns)")
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--eq-ps", type=float, default=20.0, help="NVT equilibration (ps)")
    p.add_argument("--window-ps", type=float, default=10.0, help="last stage, every step (ps; >= 1)")
    args = p.parse_args(argv)
    EQ_FS, WINDOW_FS = int(round(args.eq_ps * 1000)), int(round(args.window_ps * 1000))
    import yaml

    work = args.workdir or os.path.join(default_workdir(), f"classical_path_{args.ns:g}ns")
    os.makedirs(work, exist_ok=True)
    timing_path = os.path.join(work, "timings.json")
    timings = json.load(open(timing_path)) if os.path.isfile(timing_path) else {}

    def step(name, argv, skip_if_done=True):
        if skip_if_done and timings.get(name, {}).get("done"):
            return
        print(f"\n== {name}: ace-lin {' '.join(argv)}", flush=True)
        t = timings.setdefault(name, {"wall_s": 0.0, "invocations": 0})
        t["invocations"] += 1
        before, t0 = t["wall_s"], time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "ace_lin.cli.main", *argv], cwd=work)
        while True:
            # the wall time so far is saved every HEARTBEAT_S, so an invocation that is
            # killed (kill -9, a reboot) still counts up to its last heartbeat
            try:
                rc = proc.wait(timeout=HEARTBEAT_S)
                break
            except subprocess.TimeoutExpired:
                t["wall_s"] = before + time.perf_counter() - t0
                atomic_write(timing_path, json.dumps(timings, indent=1) + "\n")
        t["wall_s"] = before + time.perf_counter() - t0
        t["done"] = rc == 0
        atomic_write(timing_path, json.dumps(timings, indent=1) + "\n")
        if rc:
            sys.exit(f"{name} failed (exit {rc}); fix and run this script again to resume")

    fit_cfg = {"data": {"train": os.path.join(SHARED, "data", "mlearn_Si_train.xyz"),
                        "test": os.path.join(SHARED, "data", "mlearn_Si_test.xyz")},
               "elements": ["Si"], "e0": "fit", "basis": {"size": "small"},
               "output": "Si_small.json"}
    atomic_write(os.path.join(work, "fit.yaml"), yaml.safe_dump(fit_cfg))
    step("fit", ["fit", "fit.yaml", "--no-progress"])
    cell = cubic_cell("Si", os.path.join(work, "Si_conv.xyz"))
    atomic_write(os.path.join(work, "md.yaml"),
                 yaml.safe_dump(md_config("Si_small.json", os.path.basename(cell), args.ns, args.ranks,
                                          EQ_FS, WINDOW_FS)))
    step("md", ["md", "md.yaml"])
    prod_end = EQ_FS + int(round(args.ns * 1e6))
    step("analyze production", ["analyze", "md/trajectory.extxyz", "--out", "analysis_production",
                                "--window", f"{EQ_FS}fs:{prod_end + 1}fs"])
    step("analyze window", ["analyze", "md/trajectory.extxyz", "--out", "analysis_window",
                            "--window", f"{prod_end}fs:{prod_end + WINDOW_FS + 1}fs"])
    for name, text in (("qe_template.in", QE_TEMPLATE), ("INCAR", INCAR), ("KPOINTS", KPOINTS)):
        atomic_write(os.path.join(work, name), text)
    export = f"{prod_end}fs:{prod_end + EXPORT_FS}fs"
    step("snapshots vasp", ["snapshots", "md/trajectory.extxyz", "--format", "vasp", "--out",
                            "vasp", "--window", export, "--incar", "INCAR", "--kpoints", "KPOINTS"])
    step("snapshots qe", ["snapshots", "md/trajectory.extxyz", "--format", "qe", "--out", "qe",
                          "--window", export, "--template", "qe_template.in"])

    prod = json.load(open(os.path.join(work, "analysis_production", "stats.json")))
    win = json.load(open(os.path.join(work, "analysis_window", "stats.json")))
    n_vasp = len([d for d in os.listdir(os.path.join(work, "vasp")) if d[0].isdigit()])
    n_qe = len([d for d in os.listdir(os.path.join(work, "qe")) if d[0].isdigit()])
    md_steps = EQ_FS + int(round(args.ns * 1e6)) + WINDOW_FS
    md_wall = timings["md"]["wall_s"]
    print("\n" + header([f"1000-atom Si, small preset, LAMMPS engine, {args.ranks} rank(s) x 1 "
                         f"thread, 1 fs; workdir {work}"]))
    print(f"{'step':<22}{'wall s':>10}{'runs':>6}")
    for name, t in timings.items():
        print(f"{name:<22}{t['wall_s']:>10.1f}{t['invocations']:>6}")
    print(f"{'total':<22}{sum(t['wall_s'] for t in timings.values()):>10.1f}")
    print(f"\nMD: {md_steps} steps ({md_steps / 1e6:g} ns) in {md_wall:.0f} s: "
          f"{md_steps * 1e-6 / md_wall * 86400:.2f} ns/day, "
          f"{md_wall / md_steps / 1000 * 1e6:.2f} us/atom/step")
    print(f"production NVE {args.ns:g} ns: T {prod['temperature_mean_K']:.1f} +- "
          f"{prod['temperature_std_K']:.1f} K, E_tot drift "
          f"{prod.get('etot_drift_meV_per_atom_per_ns', float('nan')):.3g} meV/atom/ns, "
          f"fluctuation {prod.get('etot_fluctuation_meV_per_atom', float('nan')):.3g} meV/atom")
    print(f"window {WINDOW_FS / 1000:g} ps at every step: VDOS peak {win['vdos_peak_THz']:.2f} THz "
          f"(analysis_window/vdos.png)")
    print(f"exported {EXPORT_FS / 1000:g} ps: {n_vasp} VASP folders, {n_qe} pw.x inputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
