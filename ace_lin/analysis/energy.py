"""Temperature and energy statistics of a trajectory, with the NVE drift.

drift: slope of a straight-line fit of E_tot(t) per atom, in meV/atom/ns (meaningful for
NVE segments; with a thermostat E_tot is not conserved). fluctuation: standard deviation
of E_tot per atom around that line (meV/atom).
"""
import numpy as np


def energy_stats(time_fs, temperature_K, epot_eV, ekin_eV, n_atoms):
    t = np.asarray(time_fs, float)
    etot = (np.asarray(epot_eV) + np.asarray(ekin_eV)) / n_atoms
    res = {"n_frames": int(len(t)), "n_atoms": int(n_atoms), "time_span_fs": float(t[-1] - t[0]),
           "temperature_mean_K": float(np.mean(temperature_K)),
           "temperature_std_K": float(np.std(temperature_K)),
           "epot_mean_eV_per_atom": float(np.mean(epot_eV) / n_atoms),
           "epot_std_eV_per_atom": float(np.std(epot_eV) / n_atoms),
           "etot_mean_eV_per_atom": float(np.mean(etot))}
    if len(t) >= 3 and t[-1] > t[0]:
        coef = np.polyfit(t, etot, 1)
        res["etot_drift_meV_per_atom_per_ns"] = float(coef[0] * 1e6 * 1e3)
        res["etot_fluctuation_meV_per_atom"] = float(np.std(etot - np.polyval(coef, t)) * 1e3)
    return res
