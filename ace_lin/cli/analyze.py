"""ace-lin analyze TRAJ --out DIR [--series FILE.csv]: VDOS, RDF, MSD/diffusion, energy
statistics of a trajectory; autocorrelation, spectral density and pure-dephasing time of a
series computed on its snapshots. Formulas and units: ace_lin/analysis/*.py docstrings."""
HELP = "VDOS, RDF, MSD, energy drift of a trajectory; dephasing of a series (--series)"


def add_arguments(p):
    p.add_argument("trajectory", nargs="?", help="extended-XYZ trajectory of `ace-lin md`")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--series", help="CSV with a time_fs column and a value column in eV "
                                    "(e.g. a band gap on the snapshots)")
    p.add_argument("--column", help="value column of --series (default: the first after time_fs)")
    p.add_argument("--max-lag-fs", type=float, help="longest correlation lag (default: half the span)")
    p.add_argument("--window", help="frames to analyse, START:STOP in frame numbers or in fs "
                                    "(500fs:10500fs), as in `ace-lin snapshots`; default all. "
                                    "They must be uniformly spaced: one stage's frames")
    p.add_argument("--rdf-max", type=float, help="RDF range in A (default: min(6, half the cell height))")


def _csv(path, columns: dict):
    import numpy as np

    from ace_lin.io.atomic import atomic_write

    names = list(columns)
    data = np.column_stack([np.asarray(columns[n], float) for n in names])
    rows = [",".join(names)] + [",".join("%.10g" % v for v in row) for row in data]
    atomic_write(path, "\n".join(rows) + "\n")


def _png(path, panels):
    """panels: list of (x, y, xlabel, ylabel, kwargs)."""
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(len(panels), 1, figsize=(7, 2.6 * len(panels)))
    ax = [ax] if len(panels) == 1 else ax
    for a, (x, y, xl, yl, kw) in zip(ax, panels):
        a.plot(x, y, **kw)
        a.set_xlabel(xl)
        a.set_ylabel(yl)
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)


def analyze_trajectory(path, out, max_lag_fs=None, rdf_max=None, window=None):
    import json

    import numpy as np

    from ace_lin.analysis.energy import energy_stats
    from ace_lin.analysis.structure import continuous_positions, diffusion_coefficient, msd, rdf
    from ace_lin.analysis.vdos import plotted_band, vdos
    from ace_lin.handoff.select import frame_times, select_windows
    from ace_lin.handoff.trajectory import TrajectoryError, index_frames, read_frame
    from ace_lin.io.atomic import atomic_write

    headers = index_frames(path)
    if window:
        headers = [headers[k] for k in select_windows(headers, window)[0]]
    steps, times = frame_times(headers)
    dt = np.diff(times)
    if len(dt) < 3:
        raise TrajectoryError(f"{path}: needs at least 4 frames")
    if np.ptp(dt) > 1e-6 * dt.max() or dt.min() <= 0:
        raise TrajectoryError(f"{path}: the frames are not uniformly spaced in time "
                              "(select one stage's frames with --window)")
    dt = float(dt.mean())
    frames = [read_frame(path, h) for h in headers]
    n_atoms = len(frames[0])
    if any(len(a) != n_atoms for a in frames):
        raise TrajectoryError(f"{path}: the atom count changes")
    max_lag = int(max_lag_fs / dt) if max_lag_fs else None
    if "velocities" not in frames[0].arrays:
        raise TrajectoryError(f"{path}: the frames have no velocities column")
    masses = frames[0].get_masses()
    v = np.array([a.arrays["velocities"] for a in frames])
    vd = vdos(v, masses, dt, max_lag)
    _csv(f"{out}/vdos.csv", {"frequency_THz": vd["frequency_THz"],
                             "frequency_cm-1": vd["frequency_cm1"],
                             "vdos_per_THz": vd["vdos_per_THz"]})
    _csv(f"{out}/vacf.csv", {"time_fs": vd["time_fs"], "vacf_normalized": vd["vacf"]})
    r, g = rdf(frames[::max(1, len(frames) // 200)], r_max=rdf_max)  # <= ~200 frames suffice
    _csv(f"{out}/rdf.csv", {"r_A": r, "g_r": g})
    t, m = msd(continuous_positions(frames), masses, dt, max_lag)
    _csv(f"{out}/msd.csv", {"time_fs": t, "msd_A2": m})
    info = [h.info for h in headers]
    stats = energy_stats(times, [float(i.get("temperature_K", np.nan)) for i in info],
                         np.array([float(i.get("energy", np.nan)) for i in info]),
                         np.array([float(i.get("ekin_eV", np.nan)) for i in info]), n_atoms)
    d = diffusion_coefficient(t, m)
    stats.update(diffusion_A2_per_ps=d, diffusion_cm2_per_s=d * 1e-4,
                 vdos_peak_THz=float(vd["frequency_THz"][np.argmax(vd["vdos_per_THz"])]),
                 units={"drift": "meV/atom/ns", "fluctuation": "meV/atom", "D": "A^2/ps, cm^2/s"})
    atomic_write(f"{out}/stats.json", json.dumps(stats, indent=1) + "\n")
    fmax = vd["frequency_THz"][-1]
    f_thz, y = vd["frequency_THz"], vd["vdos_per_THz"]
    shown = plotted_band(f_thz, y)
    _png(f"{out}/vdos.png", [(f_thz[shown], y[shown], "frequency (THz)", "VDOS (1/THz)", {}),
                             (vd["time_fs"], vd["vacf"], "time (fs)", "VACF / VACF(0)", {})])
    _png(f"{out}/rdf_msd.png", [(r, g, "r (A)", "g(r)", {}), (t, m, "lag (fs)", "MSD (A^2)", {})])
    return stats, fmax


def analyze_series(path, column, out, max_lag_fs=None):
    import json

    import numpy as np

    from ace_lin.analysis.dephasing import dephasing
    from ace_lin.cli.main import UsageError
    from ace_lin.io.atomic import atomic_write

    with open(path) as fh:
        names = fh.readline().strip().split(",")
    if "time_fs" not in names:
        raise UsageError(f"{path}: needs a time_fs column (header: {','.join(names)})")
    others = [n for n in names if n != "time_fs"]
    column = column or (others[0] if others else None)
    if column not in names:
        raise UsageError(f"{path}: no column {column!r} (header: {','.join(names)})")
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    t, e = data[:, names.index("time_fs")], data[:, names.index(column)]
    if not np.isfinite(e).all():
        raise UsageError(f"{path}: column {column} holds non-finite values")
    dt = np.diff(t).mean() if len(t) > 1 else 1.0
    try:
        res = dephasing(t, e, int(max_lag_fs / dt) if max_lag_fs else None)
    except ValueError as exc:
        raise UsageError(f"{path}: {exc}") from None
    _csv(f"{out}/series_acf.csv", {"time_fs": res["time_fs"], "acf_eV2": res["acf_eV2"],
                                   "acf_normalized": res["acf_normalized"],
                                   "dephasing_function": res["dephasing"]})
    _csv(f"{out}/series_spectral_density.csv", {"frequency_THz": res["frequency_THz"],
                                                "frequency_cm-1": res["frequency_cm1"],
                                                "spectral_density_eV2_fs": res["spectral_density_eV2_fs"]})
    summary = {k: res[k] for k in ("T2_fs", "tau_gauss_fs", "std_eV", "mean_eV")}
    summary["column"] = column
    atomic_write(f"{out}/series.json", json.dumps(summary, indent=1) + "\n")
    _png(f"{out}/series.png", [(res["time_fs"], res["acf_normalized"], "time (fs)", "ACF / ACF(0)", {}),
                               (res["frequency_cm1"], res["spectral_density_eV2_fs"],
                                "frequency (cm$^{-1}$)", "J (eV$^2$ fs)", {}),
                               (res["time_fs"], res["dephasing"], "time (fs)", "D(t)", {})])
    return summary


def run(args) -> int:
    import os

    from ace_lin.cli.main import UsageError
    from ace_lin.handoff.trajectory import TrajectoryError

    if not args.trajectory and not args.series:
        raise UsageError("give a trajectory, --series FILE.csv, or both")
    for f in (args.trajectory, args.series):
        if f and not os.path.isfile(f):
            raise UsageError(f"{f}: no such file")
    os.makedirs(args.out, exist_ok=True)
    if args.trajectory:
        try:
            stats, _ = analyze_trajectory(args.trajectory, args.out, args.max_lag_fs, args.rdf_max,
                                          args.window)
        except TrajectoryError as exc:
            raise UsageError(str(exc)) from None
        print(f"{args.trajectory}: {stats['n_frames']} frames, T = {stats['temperature_mean_K']:.1f} "
              f"+- {stats['temperature_std_K']:.1f} K, VDOS peak {stats['vdos_peak_THz']:.2f} THz, "
              f"D = {stats['diffusion_cm2_per_s']:.3g} cm^2/s")
        if "etot_drift_meV_per_atom_per_ns" in stats:
            print(f"E_tot drift {stats['etot_drift_meV_per_atom_per_ns']:.3g} meV/atom/ns, "
                  f"fluctuation {stats['etot_fluctuation_meV_per_atom']:.3g} meV/atom "
                  "(meaningful for NVE)")
    if args.series:
        s = analyze_series(args.series, args.column, args.out, args.max_lag_fs)
        print(f"{args.series} [{s['column']}]: std {s['std_eV'] * 1000:.2f} meV, pure-dephasing "
              f"time T2 = {s['T2_fs']:.3g} fs (Gaussian tau {s['tau_gauss_fs']:.3g} fs)")
    print(f"wrote {args.out}/")
    return 0
