"""PNG of an MD run's thermo.csv: temperature, energies and pressure against time."""
import os

import numpy as np

from ace_lin.md.outputs import read_thermo


def plot_thermo(csv_path: str, png_path: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    th = read_thermo(csv_path)
    t = th["time_fs"] / 1000.0  # ps
    n_panels = 4 if "max_gamma" in th else 3
    fig, ax = plt.subplots(n_panels, 1, figsize=(7, 2.2 * n_panels), sharex=True)
    ax[0].plot(t, th["temperature_K"])
    ax[0].set_ylabel("temperature (K)")
    if len(t):
        ax[1].plot(t, th["etot_eV"] - th["etot_eV"][0], label="total")
        ax[1].plot(t, th["epot_eV"] - th["epot_eV"][0], label="potential", alpha=0.7)
        ax[1].plot(t, th["ekin_eV"] - th["ekin_eV"][0], label="kinetic", alpha=0.7)
    ax[1].set_ylabel("energy - initial (eV)")
    ax[1].legend(fontsize=8)
    ax[2].plot(t, th["pressure_GPa"])
    ax[2].set_ylabel("pressure (GPa)")
    if n_panels == 4:
        graded = np.isfinite(th["max_gamma"])  # frames between graded ones hold nan
        ax[3].semilogy(t[graded], np.maximum(th["max_gamma"][graded], 1e-3),
                       marker="." if graded.sum() < 200 else None)
        ax[3].set_ylabel("max grade")
    ax[-1].set_xlabel("time (ps)")
    fig.tight_layout()
    tmp = png_path + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, png_path)
