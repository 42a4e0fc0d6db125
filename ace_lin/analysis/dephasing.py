"""Fluctuations of an energy series (e.g. a gap E(t) in eV computed on MD snapshots):
autocorrelation, spectral density and pure-dephasing time from the second-order cumulant.

    dE(t)  = E(t) - <E>                                    (eV)
    C(t)   = < dE(0) dE(t) >                               (eV^2, unbiased over origins)
    J(nu)  = integral over all t of C(t) exp(-2 pi i nu t) (eV^2 fs; nu in THz and cm^-1)
    g(t)   = (1 / hbar^2) int_0^t dt1 int_0^t1 dt2 C(t2)    (hbar = 0.6582119569 eV fs)
    D(t)   = exp(-g(t))                                    (the dephasing function)
The pure-dephasing time T2 is the first t with D(t) = 1/e (linear interpolation); tau_gauss
is the width of the Gaussian exp(-t^2 / (2 tau^2)) fitted to D where D > 1/e.
"""
import numpy as np
from scipy.integrate import cumulative_trapezoid

from ace_lin.analysis.correlate import THZ_TO_CM1, autocorrelation, cosine_transform

HBAR_EV_FS = 0.6582119569


def dephasing(time_fs, energy_eV, max_lag=None):
    t = np.asarray(time_fs, float)
    e = np.asarray(energy_eV, float)
    if len(t) < 4:
        raise ValueError("the series needs at least 4 points")
    dt = np.diff(t)
    if np.ptp(dt) > 1e-6 * dt.max() or dt.min() <= 0:
        raise ValueError("the series' time column must be uniformly spaced and increasing")
    dt = float(dt.mean())
    de = e - e.mean()
    max_lag = len(e) // 2 if max_lag is None else max_lag
    c = autocorrelation(de, max_lag)
    lag = np.arange(len(c)) * dt
    nu_per_fs, j = cosine_transform(c, dt)
    inner = cumulative_trapezoid(c, lag, initial=0.0)
    g = cumulative_trapezoid(inner, lag, initial=0.0) / HBAR_EV_FS ** 2
    d = np.exp(-g)
    below = np.nonzero(d < np.exp(-1.0))[0]
    t2 = float("nan")
    if len(below):
        k = below[0]
        y0, y1 = np.log(d[k - 1]), np.log(d[k])
        t2 = float(lag[k - 1] + (-1.0 - y0) / (y1 - y0) * dt)
    sel = (d > np.exp(-1.0)) & (lag > 0)
    tau = float("nan")
    if sel.sum() >= 2:
        slope = np.polyfit(lag[sel] ** 2, np.log(d[sel]), 1)[0]  # -1/(2 tau^2)
        tau = float(np.sqrt(-0.5 / slope)) if slope < 0 else float("nan")
    nu_thz = nu_per_fs * 1000.0
    return {"time_fs": lag, "acf_eV2": c, "acf_normalized": c / c[0] if c[0] > 0 else c,
            "dephasing": d, "frequency_THz": nu_thz, "frequency_cm1": nu_thz * THZ_TO_CM1,
            "spectral_density_eV2_fs": j, "T2_fs": t2, "tau_gauss_fs": tau,
            "std_eV": float(np.std(e)), "mean_eV": float(e.mean())}
