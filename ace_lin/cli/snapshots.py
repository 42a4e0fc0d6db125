"""ace-lin snapshots TRAJ --format vasp|qe|cp2k|xyz --out DIR: DFT inputs of MD frames."""
HELP = "export trajectory windows as VASP/QE/CP2K/xyz inputs (consecutive frames, checked)"


def add_arguments(p):
    p.add_argument("trajectory", help="extended-XYZ trajectory of `ace-lin md` (step, time_fs per frame)")
    p.add_argument("--format", required=True, choices=("vasp", "qe", "cp2k", "xyz"))
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--window", help="START:STOP frames (or 1000fs:2000fs), STOP excluded; "
                                    "default: all frames")
    p.add_argument("--every", help="repeat the window every K frames (or K fs, e.g. 5000fs)")
    p.add_argument("--template", help="pw.x input template (qe): everything but the geometry")
    p.add_argument("--incar", help="INCAR to put in each VASP folder")
    p.add_argument("--kpoints", help="KPOINTS to put in each VASP folder")
    p.add_argument("--potcar", help="POTCAR to put in each VASP folder")
    p.add_argument("--copy", action="store_true", help="copy INCAR/KPOINTS/POTCAR (default: symlink)")
    p.add_argument("--unwrap", action="store_true",
                   help="write positions made continuous across the periodic boundary")
    p.add_argument("--allow-jumps", action="store_true",
                   help="write atoms that jump across the periodic boundary as they are")
    p.add_argument("--allow-cell-change", action="store_true",
                   help="write frames whose cells differ (NPT), each with its own cell")
    p.add_argument("--allow-nonuniform", action="store_true",
                   help="write windows whose time spacing is not uniform")


def run(args) -> int:
    import os

    from ace_lin.cli.main import UsageError
    from ace_lin.handoff.trajectory import TrajectoryError, index_frames, read_frame
    from ace_lin.handoff.select import boundary_jumps, check_frames, select_windows, unwrap
    from ace_lin.handoff import writers
    from ace_lin.io.atomic import atomic_write

    if not os.path.isfile(args.trajectory):
        raise UsageError(f"{args.trajectory}: no such trajectory file")
    extra = [f for f in (args.incar, args.kpoints, args.potcar) if f]
    for f in extra + ([args.template] if args.template else []):
        if not os.path.isfile(f):
            raise UsageError(f"{f}: no such file")
    if extra and args.format != "vasp":
        raise UsageError("--incar/--kpoints/--potcar are for --format vasp")
    if args.format == "qe" and not args.template:
        raise UsageError("--format qe needs --template (a pw.x input without the geometry)")
    try:
        headers = index_frames(args.trajectory)
        windows = select_windows(headers, args.window, args.every)
        wanted = sorted({k for w in windows for k in w})
        frames = {k: read_frame(args.trajectory, headers[k]) for k in wanted}
        check_frames(frames, windows, headers, args.allow_cell_change, args.allow_nonuniform)
        positions = {k: frames[k].positions for k in wanted}
        for w in windows:
            jump = boundary_jumps(frames, w)
            if jump and args.unwrap:
                positions.update(unwrap(frames, w))
            elif jump and not args.allow_jumps:
                raise TrajectoryError(f"atom {jump[2]} jumps across the periodic boundary between "
                                      f"frames {jump[0]} and {jump[1]}; --unwrap to write continuous positions "
                                      "(or --allow-jumps)")
        template = None
        if args.format == "qe":
            template = open(args.template).read()
            writers.check_qe_template(template, set(frames[wanted[0]].get_chemical_symbols()))
    except (TrajectoryError, writers.TemplateError) as exc:
        raise UsageError(str(exc)) from None
    os.makedirs(args.out, exist_ok=True)
    width = max(5, len(str(max(wanted))))
    rows = ["frame,step,time_fs,epot_eV,ekin_eV,temperature_K,window,path"]
    for wi, w in enumerate(windows):
        for k in w:
            a, info = frames[k], headers[k].info
            name = f"{k:0{width}d}"
            if args.format == "vasp":
                path = name
                writers.write_vasp(os.path.join(args.out, name), a, positions[k], extra, args.copy)
            elif args.format == "qe":
                path = os.path.join(name, "pw.in")
                writers.write_qe(os.path.join(args.out, name), a, positions[k], template)
            elif args.format == "cp2k":
                path = os.path.join(name, "subsys.inc")
                writers.write_cp2k(os.path.join(args.out, name), a, positions[k])
            else:
                path = name + ".xyz"
                writers.write_xyz(os.path.join(args.out, path), a, positions[k],
                                  {"step": int(info["step"]), "time_fs": float(info["time_fs"])})
            epot = info.get("energy", float("nan"))
            rows.append(f"{k},{int(info['step'])},{float(info['time_fs']):g},{float(epot):.10g},"
                        f"{float(info.get('ekin_eV', float('nan'))):.10g},"
                        f"{float(info.get('temperature_K', float('nan'))):.6g},{wi},{path}")
    atomic_write(os.path.join(args.out, "index.csv"), "\n".join(rows) + "\n")
    n = sum(len(w) for w in windows)
    print(f"wrote {n} {args.format} snapshot(s) in {len(windows)} window(s) to {args.out}/ "
          f"(index.csv lists them)")
    return 0
