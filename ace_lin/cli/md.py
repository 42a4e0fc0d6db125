"""ace-lin md CONFIG.yaml (or the shortcut: ace-lin md MODEL STRUCTURE --steps ...)."""
HELP = "molecular dynamics from a YAML config (ASE or LAMMPS engine; resumable)"

ENSEMBLE_ALIASES = {"nvt": "nvt-langevin"}


def add_arguments(p):
    p.add_argument("inputs", nargs="+", metavar="CONFIG.yaml | MODEL STRUCTURE",
                   help="a YAML config (keys: see ace_lin/md/config.py and examples/md_*.yaml), "
                        "or a model file and a start structure with the flags below")
    g = p.add_argument_group("shortcut form (MODEL STRUCTURE): one stage from flags")
    g.add_argument("--steps", type=int, default=1000, help="number of MD steps (default 1000)")
    g.add_argument("--dt", type=float, default=1.0, help="time step in fs (default 1)")
    g.add_argument("--temperature", type=float, default=300.0, help="temperature in K (default 300)")
    g.add_argument("--ensemble", default="nvt-langevin",
                   help="nve, nvt-langevin (or nvt), nvt-csvr, nvt-nose-hoover, npt")
    g.add_argument("--pressure", type=float, help="GPa (npt)")
    g.add_argument("--repeat", type=int, nargs=3, default=(1, 1, 1), metavar=("NX", "NY", "NZ"),
                   help="build a supercell of the structure first")
    g.add_argument("--interval", type=int, default=10, help="steps between frames/thermo rows")
    g.add_argument("--grade-every", type=int,
                   help="steps between graded frames (default: every frame; models with an "
                        "active set)")
    g.add_argument("--out", default="md", help="output folder (default md)")
    g.add_argument("--engine", default="ase", help="ase or lammps")
    g.add_argument("--ranks", type=int, default=1, help="MPI ranks (LAMMPS engine)")
    g.add_argument("--threads", type=int, default=0, help="OpenMP threads (0: OMP_NUM_THREADS/all)")
    g.add_argument("--seed", type=int, default=0, help="random seed (velocities, thermostat)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def config_from_args(args):
    from ace_lin.cli.main import UsageError
    from ace_lin.md.config import load_config, parse_config

    if len(args.inputs) == 1:
        return load_config(args.inputs[0])
    if len(args.inputs) != 2:
        raise UsageError("give a config file, or a model file and a structure file")
    d = {"model": args.inputs[0], "structure": args.inputs[1], "supercell": list(args.repeat),
         "engine": args.engine, "ranks": args.ranks, "threads": args.threads,
         "timestep": args.dt, "seed": args.seed, "stride": args.interval, "output": args.out,
         "ensemble": ENSEMBLE_ALIASES.get(args.ensemble, args.ensemble),
         "temperature": args.temperature, "steps": args.steps}
    if args.pressure is not None:
        d["pressure"] = args.pressure
    if args.grade_every is not None:
        d["grade_every"] = args.grade_every
    return parse_config(d)


def run(args) -> int:
    import os

    from ace_lin.md.run import run_md
    from ace_lin.md.outputs import read_thermo

    cfg = config_from_args(args)
    s = run_md(cfg, progress=not args.no_progress)
    th = read_thermo(os.path.join(cfg.output, "thermo.csv"))
    n = s["n_atoms"]
    what = "resumed" if s.get("resumed") else "ran"
    print(f"MD ({cfg.engine}): {what} to step {s['steps']} of {cfg.total_steps} "
          f"({n} atoms, {cfg.timestep:g} fs), {s['ns_per_day']:.3g} ns/day in this session")
    if len(th["step"]):
        print(f"final T = {th['temperature_K'][-1]:.1f} K, E_tot - E_tot(0) = "
              f"{(th['etot_eV'][-1] - th['etot_eV'][0]) / n * 1000:.3f} meV/atom")
    if s.get("stopped") is not None:
        print(f"stopped: max grade {s['stopped']:.3g} > max_grade_stop {cfg.max_grade_stop:g}")
    print(f"wrote {cfg.output}/ (trajectory.extxyz, thermo.csv, thermo.png, checkpoint)")
    return 0
