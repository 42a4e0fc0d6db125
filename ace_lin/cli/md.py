"""ace-lin md MODEL STRUCTURE: molecular dynamics with the ASE calculator."""
HELP = "run NVE/NVT molecular dynamics with a model (ASE; restartable)"


def add_arguments(p):
    p.add_argument("model", help="model file (.json) written by 'ace-lin fit'")
    p.add_argument("structure", help="start structure, any format ase.io.read reads (last frame used)")
    p.add_argument("--steps", type=int, default=1000, help="number of MD steps (default 1000)")
    p.add_argument("--dt", type=float, default=1.0, help="time step in fs (default 1)")
    p.add_argument("--temperature", type=float, default=300.0, help="temperature in K (default 300)")
    p.add_argument("--ensemble", choices=("nve", "nvt"), default="nvt", help="nve or nvt (Langevin)")
    p.add_argument("--repeat", type=int, nargs=3, default=(1, 1, 1), metavar=("NX", "NY", "NZ"),
                   help="build a supercell of the structure first")
    p.add_argument("--interval", type=int, default=10, help="steps between frames/log lines")
    p.add_argument("--out", default="md", help="output prefix: PREFIX.extxyz, .log, .png, .restart.json")
    p.add_argument("--restart", action="store_true", help="continue from PREFIX.restart.json")
    p.add_argument("--threads", type=int, default=0, help="OpenMP threads (0: OMP_NUM_THREADS/all)")
    p.add_argument("--seed", type=int, default=0, help="random seed (velocities, thermostat)")


def run(args) -> int:
    import os
    import time

    from ase.io import read

    from ace_lin.calculator import ACECalculator
    from ace_lin.cli.main import UsageError
    from ace_lin.md.run import MDSettings, plot_md, run_md

    if not os.path.exists(args.structure):
        raise UsageError(f"structure file not found: {args.structure}")
    atoms = read(args.structure, index=-1).repeat(tuple(args.repeat))
    calc = ACECalculator(args.model, n_threads=args.threads)
    try:
        settings = MDSettings(steps=args.steps, dt_fs=args.dt, temperature_K=args.temperature,
                              ensemble=args.ensemble, interval=args.interval, seed=args.seed)
        settings.check()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    t0 = time.perf_counter()
    log = run_md(atoms, calc, settings, args.out, restart=args.restart, progress=True)
    wall = time.perf_counter() - t0
    plot_md(log, args.out + ".png")
    n = len(atoms)
    drift = (log["etot"][-1] - log["etot"][0]) / n
    print(f"MD: {n} atoms, {args.steps} steps of {args.dt} fs ({args.ensemble}), "
          f"{wall / max(args.steps, 1) / n * 1e6:.1f} us/atom/step (Python + ASE driver)")
    print(f"final T = {log['temperature'][-1]:.1f} K, E_tot change = {drift * 1000:.3f} meV/atom")
    print(f"wrote {args.out}.extxyz, {args.out}.log, {args.out}.png (restart: {args.out}.restart.json)")
    return 0
