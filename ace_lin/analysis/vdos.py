"""Vibrational density of states from the mass-weighted velocity autocorrelation.

    C(t)   = sum_i m_i < v_i(0) . v_i(t) >                      (amu A^2/fs^2)
    g(nu)  = (1 / k_B T) * FT[C](nu) over t in (-inf, inf)     (per THz)
with T from equipartition, k_B T = C(0) / (3N): then the integral of g over nu >= 0 (THz)
is 3N, the number of degrees of freedom (a harmonic crystal's classical VDOS).
Velocities are in A/fs, sampled every dt fs; the highest frequency is 1/(2 dt).
"""
import numpy as np

from ace_lin.analysis.correlate import THZ_TO_CM1, autocorrelation, cosine_transform


def vdos(velocities, masses, dt_fs, max_lag=None):
    """velocities (n_frames, N, 3) A/fs; returns dict with time_fs, vacf (normalised to
    C(0) = 1), frequency_THz, frequency_cm1, vdos_per_THz."""
    v = np.asarray(velocities, float) * np.sqrt(np.asarray(masses, float))[None, :, None]
    n = v.shape[0]
    max_lag = n // 2 if max_lag is None else max_lag
    c = autocorrelation(v, max_lag)
    nu_per_fs, spec = cosine_transform(c / c[0], dt_fs)
    n_dof = 3 * v.shape[1]
    # FT[C/C(0)] integrates to 1/2 over nu >= 0 (1/fs); d(nu_THz) = 1000 d(nu_per_fs)
    nu_thz = nu_per_fs * 1000.0
    g = spec * 2 * n_dof / 1000.0
    return {"time_fs": np.arange(len(c)) * dt_fs, "vacf": c / c[0], "frequency_THz": nu_thz,
            "frequency_cm1": nu_thz * THZ_TO_CM1, "vdos_per_THz": g}


def plotted_band(frequency_thz, vdos_per_thz, weight=0.99, margin=1.2):
    """Mask of the frequencies worth plotting: up to `margin` times the frequency below which
    `weight` of the spectral weight lies. Frames at every 1 fs step put the Nyquist frequency
    at 500 THz, far above any phonon, and a plot to there shows nothing."""
    f = np.asarray(frequency_thz, float)
    cumulative = np.cumsum(np.clip(np.asarray(vdos_per_thz, float), 0.0, None))
    if len(f) < 2 or cumulative[-1] <= 0:
        return np.ones(len(f), bool)
    k = min(int(np.searchsorted(cumulative, weight * cumulative[-1])), len(f) - 1)
    return f <= max(margin * f[k], f[min(10, len(f) - 1)])
