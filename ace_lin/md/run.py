"""run_md(config): an MD run on the configured engine, then the PNG of its thermo.csv.

The same call on an existing output folder resumes from its last checkpoint.
"""
import os

from ace_lin.md.config import MDConfig, MDConfigError


def run_md(cfg: MDConfig, progress=True) -> dict:
    """Run (or resume) cfg; returns the engine's summary (steps, wall_s, ns_per_day,
    n_atoms, stopped: max grade that stopped the run or None)."""
    from ace_lin.md.outputs import PLOT, THERMO
    from ace_lin.md.plot import plot_thermo
    from ace_lin.md.start import load_model_checked, start_structure

    model = load_model_checked(cfg)
    atoms = start_structure(cfg, model)
    if cfg.engine == "ase":
        from ace_lin.md.ase_engine import run_ase

        summary = run_ase(cfg, model, atoms, progress=progress)
    elif cfg.engine == "lammps":
        from ace_lin.md.lammps_engine import run_lammps

        summary = run_lammps(cfg, model, atoms, progress=progress)
    else:
        raise MDConfigError(f"'engine': unknown value {cfg.engine!r}")
    thermo = os.path.join(cfg.output, THERMO)
    if os.path.exists(thermo):
        plot_thermo(thermo, os.path.join(cfg.output, PLOT))
    return summary
