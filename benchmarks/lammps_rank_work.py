"""Instructions per MD step of LAMMPS on 1 and 2 MPI ranks, per rank and per part (callgrind).

Wall-clock speed-ups on a shared machine move with whatever else runs; instruction counts do
not. This runs the 2016-atom Si cell of lammps_md_speed.py (NVE 1 fs from 300 K, skin 1 A,
1 OpenMP thread) under valgrind's callgrind, counting only inside Verlet::run (the MD steps,
not the setup), and splits each rank's count by inclusive cost into

- pair: the pair style's compute(); for acelin also its part in the C core
  (acelin_compute_ex) and the adapter around it (bond list, force scatter);
- MPI: every MPI call LAMMPS makes, including the polling of a rank that waits for the
  other (so its count depends on timing and is not repeatable);
- LAMMPS rest: integration, ghost packing, neighbour-list checks.

"work" is everything but MPI. The work speed-up of 2 ranks, (1-rank work) / (larger rank's
work), is the wall-clock speed-up that 2 ranks would reach without waiting.

    python3 benchmarks/lammps_rank_work.py [--steps 5] [--only Si-small Si-tersoff]
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lammps_md_speed as speed  # noqa: E402  (cells, models, pair commands)
from machine import machine_info  # noqa: E402

LINE = re.compile(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(?:\S*?:)?(.+?)(?: \[.*\])?$")


def inclusive_costs(path):
    """{function: inclusive instructions} of one callgrind output file."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    costs = {}
    for ln in out.splitlines():
        m = LINE.match(ln)
        if m:
            costs[m.group(2).strip()] = costs.get(m.group(2).strip(), 0) + int(m.group(1).replace(",", ""))
    return costs


def parts(costs):
    """Instructions of one rank split into total, pair, core, MPI, LAMMPS rest, work."""
    total = costs["PROGRAM TOTALS"]
    pair = sum(v for k, v in costs.items() if re.fullmatch(r"LAMMPS_NS::Pair\w+::compute\(int, int\)", k))
    core = costs.get("acelin_compute_ex", 0)
    mpi = sum(v for k, v in costs.items() if k.startswith(("PMPI_", "MPI_")))
    return {"total": total, "pair": pair, "core": core, "adapter": pair - core if core else 0,
            "mpi": mpi, "rest": total - pair - mpi, "work": total - mpi}


def run_case(case, ranks, steps, tmp):
    """(atoms, callgrind outputs, one per rank) of `steps` MD steps on `ranks` ranks."""
    from ace_lin.lammps.plugin import mpirun_path, runtime_env
    from ace_lin.md.lammps_engine import lmp_executable

    key, el, _, _, pair = case
    lattice, a, reps, mass = speed.CELLS[el]
    folder = os.path.join(tmp, f"{key}_{ranks}")
    os.makedirs(folder)
    script = os.path.join(folder, "in.lammps")
    with open(script, "w") as fh:
        fh.write("\n".join([
            "units metal", "atom_style atomic", f"lattice {lattice} {a}",
            f"region box block 0 {reps[0]} 0 {reps[1]} 0 {reps[2]}", "create_box 1 box",
            "create_atoms 1 box", f"mass 1 {mass}", *pair,
            "neighbor 1.0 bin", "neigh_modify every 1 delay 0 check yes",
            "velocity all create 300.0 87287 mom yes rot yes dist gaussian",
            "timestep 0.001", "fix nve all nve", "thermo 1000", f"run {steps}"]) + "\n")
    env = runtime_env()
    env["OMP_NUM_THREADS"] = "1"
    cmd = [mpirun_path(), "-np", str(ranks), "valgrind", "--tool=callgrind", "--collect-atstart=no",
           "--toggle-collect=LAMMPS_NS::Verlet::run(int)",
           f"--callgrind-out-file={folder}/callgrind.%p", lmp_executable(), "-in", script,
           "-log", os.path.join(folder, "log.lammps"), "-screen", "none"]
    res = subprocess.run(cmd, env=env, cwd=folder, capture_output=True, text=True)
    outs = sorted(glob.glob(os.path.join(folder, "callgrind.*")))
    if res.returncode != 0 or len(outs) != ranks:
        raise RuntimeError(f"{key} on {ranks} rank(s) failed:\n{res.stderr[-2000:]}")
    with open(os.path.join(folder, "log.lammps")) as fh:
        atoms = int(re.search(r"Loop time of \S+ on \d+ procs for \d+ steps with (\d+) atoms", fh.read()).group(1))
    return atoms, outs


def report(case, atoms, steps, per_rank):
    """per_rank: {ranks: [parts of each rank]}."""
    _, el, label, _, _ = case
    print(f"\n{el} {label}, {atoms} atoms, {steps} steps: million instructions per step")
    print("| ranks | rank | total | pair | core | adapter | LAMMPS rest | MPI | work |")
    print("|---|---|---|---|---|---|---|---|---|")
    for ranks, rows in sorted(per_rank.items()):
        for r, p in enumerate(rows):
            cells = [f"{p[k] / steps / 1e6:.2f}" for k in ("total", "pair", "core", "adapter", "rest", "mpi", "work")]
            print(f"| {ranks} | {r} | " + " | ".join(cells) + " |")
    if 1 in per_rank and 2 in per_rank:
        one, two = per_rank[1][0], per_rank[2]
        work2 = [p["work"] for p in two]
        print(f"work speed-up of 2 ranks: {one['work'] / max(work2):.3f} (larger rank's work over the "
              f"mean {max(work2) / (sum(work2) / 2):.4f}; sum of both ranks' work over 1 rank's "
              f"{sum(work2) / one['work']:.4f}); MPI polling and calls: "
              f"{100 * sum(p['mpi'] for p in two) / sum(p['total'] for p in two):.1f} % of the 2-rank instructions")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=5, help="MD steps counted (callgrind is ~50x slower)")
    p.add_argument("--only", nargs="+", default=["Si-small", "Si-tersoff"],
                   help="cases of lammps_md_speed.py (Si-tersoff, Si-sw, Si-small, Si-large, ...)")
    p.add_argument("--workdir", help="fitted models (default: as lammps_md_speed.py)")
    args = p.parse_args(argv)
    for tool in ("valgrind", "callgrind_annotate"):
        if shutil.which(tool) is None:
            p.error(f"{tool} is not on PATH (apt-get install valgrind)")
    from ace_lin.lammps.plugin import build_plugin

    if not args.workdir:
        from ace_lin.codegen.cache import cache_dir

        args.workdir = os.path.join(cache_dir(), "benchmarks")
    os.makedirs(args.workdir, exist_ok=True)
    args.anchors = os.path.join(speed.SHARED, "anchors")
    for el in ("si", "mo"):
        for size in speed.SIZES:
            setattr(args, f"{el}_{size}", None)
    todo = speed.cases(args, build_plugin())
    print(machine_info())
    with tempfile.TemporaryDirectory() as tmp:
        for case in todo:
            per_rank = {}
            for ranks in (1, 2):
                atoms, outs = run_case(case, ranks, args.steps, tmp)
                per_rank[ranks] = [parts(inclusive_costs(f)) for f in outs]
            report(case, atoms, args.steps, per_rank)
    return 0


if __name__ == "__main__":
    sys.exit(main())
