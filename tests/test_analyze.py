"""`ace-lin analyze`: VDOS peaks at a known frequency, MSD/diffusion of a random walk,
energy drift, and the cumulant dephasing time of a series with a known answer."""
import json

import numpy as np
import pytest
from ase.build import bulk

from ace_lin.analysis.dephasing import HBAR_EV_FS, dephasing
from ace_lin.analysis.structure import diffusion_coefficient, msd
from ace_lin.analysis.vdos import plotted_band, vdos
from ace_lin.cli.main import main
from ace_lin.md.outputs import format_frame, frame_info


def oscillator_trajectory(path, nu_thz, n_frames=400, dt=1.0, drift_eV_per_fs=0.0, t0=0.0,
                          mode="w"):
    """8 Si atoms, each a 3D harmonic oscillator of frequency nu_thz with random phases and
    amplitudes (the exact positions and velocities)."""
    rng = np.random.default_rng(1)
    a = bulk("Si", "diamond", a=5.43, cubic=True)
    w = 2 * np.pi * nu_thz / 1000.0  # rad/fs
    amp = rng.uniform(0.05, 0.1, size=(8, 3))
    ph = rng.uniform(0, 2 * np.pi, size=(8, 3))
    text = []
    for k in range(n_frames):
        t = t0 + k * dt
        pos = a.positions + amp * np.sin(w * t + ph)
        vel = amp * w * np.cos(w * t + ph)
        epot = -40.0 + drift_eV_per_fs * t
        text.append(format_frame(a.get_chemical_symbols(), a.cell.array, a.pbc, pos, vel,
                                 np.zeros((8, 3)), np.full(8, epot / 8),
                                 frame_info(int(round(t)), t, epot, 0.2, 300.0, 0.0)))
    with open(path, mode) as fh:
        fh.write("".join(text))


def test_vdos_peaks_at_the_oscillator_frequency(tmp_path):
    traj = str(tmp_path / "osc.extxyz")
    oscillator_trajectory(traj, nu_thz=15.3, drift_eV_per_fs=8e-7)
    out = tmp_path / "a"
    assert main(["analyze", traj, "--out", str(out)]) == 0
    data = np.loadtxt(out / "vdos.csv", delimiter=",", skiprows=1)
    assert open(out / "vdos.csv").readline().strip() == "frequency_THz,frequency_cm-1,vdos_per_THz"
    peak = data[np.argmax(data[:, 2])]
    df = data[1, 0] - data[0, 0]
    assert abs(peak[0] - 15.3) <= df, (peak, df)
    assert abs(peak[1] - 15.3 * 33.35641) <= df * 33.36
    integral = np.trapezoid(data[:, 2], data[:, 0])
    assert abs(integral - 24) < 1.5, integral  # 3N degrees of freedom
    stats = json.load(open(out / "stats.json"))
    # 8e-7 eV/fs over 8 atoms = 1e-7 eV/atom/fs = 100 meV/atom/ns
    assert stats["etot_drift_meV_per_atom_per_ns"] == pytest.approx(100.0, rel=1e-6)
    for name in ("vdos.png", "rdf_msd.png", "rdf.csv", "msd.csv", "vacf.csv"):
        assert (out / name).stat().st_size > 100


def test_window_selects_one_stage_of_a_run_with_two_strides(tmp_path, capsys):
    """Frames every 20 fs, then every fs (as from stages with their own strides): the whole
    trajectory is refused, the fine stage's window is analysed."""
    traj = str(tmp_path / "two.extxyz")
    oscillator_trajectory(traj, nu_thz=15.3, n_frames=50, dt=20.0)
    oscillator_trajectory(traj, nu_thz=15.3, n_frames=400, dt=1.0, t0=1000.0, mode="a")
    assert main(["analyze", traj, "--out", str(tmp_path / "all")]) == 2
    assert "not uniformly spaced" in capsys.readouterr().err
    out = tmp_path / "w"
    assert main(["analyze", traj, "--out", str(out), "--window", "1000fs:1400fs"]) == 0
    assert json.load(open(out / "stats.json"))["n_frames"] == 400
    data = np.loadtxt(out / "vdos.csv", delimiter=",", skiprows=1)
    assert abs(data[np.argmax(data[:, 2]), 0] - 15.3) <= data[1, 0] - data[0, 0]


def test_vdos_of_two_frequencies_function():
    t = np.arange(2000) * 0.5
    v = np.zeros((2000, 2, 3))
    v[:, 0, 0] = np.cos(2 * np.pi * 0.010 * t)  # 10 THz
    v[:, 1, 1] = 0.5 * np.cos(2 * np.pi * 0.025 * t)  # 25 THz
    res = vdos(v, [1.0, 1.0], 0.5)
    f, g = res["frequency_THz"], res["vdos_per_THz"]
    lo, hi = (f > 5) & (f < 15), (f > 20) & (f < 30)
    assert abs(f[lo][np.argmax(g[lo])] - 10) < 0.2 and abs(f[hi][np.argmax(g[hi])] - 25) < 0.2
    # the plot shows both peaks and stops far below the 1000 THz Nyquist frequency of 0.5 fs
    shown = plotted_band(f, g)
    assert 25 < f[shown].max() < 40, f[shown].max()


def test_msd_equals_the_direct_average_over_time_origins():
    rng = np.random.default_rng(3)
    x = 20.0 + np.cumsum(rng.normal(scale=0.05, size=(300, 7, 3)), axis=0)  # far from 0
    m = rng.uniform(1.0, 50.0, size=7)
    t, got = msd(x, m, 2.0, max_lag=120)
    y = x - ((x * m[None, :, None]).sum(axis=1) / m.sum())[:, None, :]
    want = [0.0] + [np.mean(np.sum((y[k:] - y[:-k]) ** 2, axis=2)) for k in range(1, 121)]
    assert np.allclose(got, want, rtol=1e-10, atol=1e-12)
    assert np.allclose(t, 2.0 * np.arange(121))


def test_msd_of_a_random_walk():
    rng = np.random.default_rng(0)
    steps = rng.normal(scale=0.1, size=(4000, 50, 3))  # A per fs-step
    x = np.cumsum(steps, axis=0)
    t, m = msd(x, np.ones(50), 1.0, max_lag=200)
    d = diffusion_coefficient(t, m)  # expected: <dx^2> = 0.01 A^2 per fs per axis -> D = 0.005 A^2/fs
    assert d == pytest.approx(5.0, rel=0.05)  # A^2/ps


def test_gaussian_dephasing_matches_the_cumulant_formula():
    """An energy gap with Gaussian-correlated fluctuations of std s and correlation time tc:
    for t << tc, g(t) = s^2 t^2 / (2 hbar^2), so D = exp(-t^2 / (2 tau^2)) with tau = hbar / s."""
    rng = np.random.default_rng(3)
    dt, n, tc, s = 1.0, 200000, 400.0, 0.02
    kernel = np.exp(-0.5 * (np.arange(-4 * tc, 4 * tc + 1) / (tc / np.sqrt(2))) ** 2)
    noise = np.convolve(rng.normal(size=n + len(kernel)), kernel, mode="valid")[:n]
    e = 1.5 + s * noise / noise.std()
    res = dephasing(np.arange(n) * dt, e, max_lag=600)
    tau = HBAR_EV_FS / s  # 32.9 fs
    assert res["tau_gauss_fs"] == pytest.approx(tau, rel=0.05)
    assert res["T2_fs"] == pytest.approx(np.sqrt(2) * tau, rel=0.05)  # D(T2) = 1/e


def test_series_cli(tmp_path, capsys):
    t = np.arange(3000) * 2.0
    amp, w = 0.1, 2 * np.pi / 100.0
    e = 1.1 + amp * np.cos(w * t)  # one 10 THz mode
    path = tmp_path / "gap.csv"
    np.savetxt(path, np.column_stack([t, e]), delimiter=",", header="time_fs,gap_eV", comments="")
    out = tmp_path / "s"
    assert main(["analyze", "--series", str(path), "--out", str(out)]) == 0
    spec = np.loadtxt(out / "series_spectral_density.csv", delimiter=",", skiprows=1)
    assert abs(spec[np.argmax(spec[:, 2]), 0] - 10.0) < 0.1
    summary = json.load(open(out / "series.json"))
    # C(t) = amp^2/2 cos(wt), g(t) = amp^2 (1 - cos wt) / (2 hbar^2 w^2): g(T2) = 1 at
    t2 = np.arccos(1 - 2 * HBAR_EV_FS ** 2 * w ** 2 / amp ** 2) / w  # 13.6 fs
    assert summary["column"] == "gap_eV"
    assert summary["T2_fs"] == pytest.approx(t2, rel=0.03)
    assert main(["analyze", "--series", str(path), "--out", str(out), "--column", "nope"]) == 2
    assert "no column 'nope'" in capsys.readouterr().err
