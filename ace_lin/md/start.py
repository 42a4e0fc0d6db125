"""The start of a run: model, structure (supercell), element check and initial velocities."""
import os

import numpy as np

from ace_lin.md.config import MDConfig, MDConfigError


def load_model_checked(cfg: MDConfig):
    from ace_lin.model import load_model

    if not os.path.isfile(cfg.model):
        raise MDConfigError(f"'model': no such file {cfg.model}")
    return load_model(cfg.model)


def start_structure(cfg: MDConfig, model):
    """The start structure (last frame of the file, repeated by supercell), its elements
    checked against the model's. Positions in A."""
    from ase.io import read

    if not os.path.isfile(cfg.structure):
        raise MDConfigError(f"'structure': no such file {cfg.structure}")
    try:
        atoms = read(cfg.structure, index=-1)
    except Exception as exc:  # ASE raises many types for unreadable files
        raise MDConfigError(f"'structure': cannot read {cfg.structure} ({exc})") from None
    if len(atoms) == 0:
        raise MDConfigError(f"'structure': {cfg.structure} holds no atoms")
    missing = sorted(set(atoms.get_chemical_symbols()) - set(model.elements))
    if missing:
        raise MDConfigError(f"the structure has element(s) {', '.join(missing)} that the model "
                            f"(elements {', '.join(model.elements)}) does not describe")
    atoms = atoms.repeat(tuple(cfg.supercell))
    atoms.calc = None
    atoms.constraints = []
    if not np.isfinite(atoms.positions).all():
        raise MDConfigError(f"'structure': {cfg.structure} has non-finite positions")
    return atoms


def initial_momenta(atoms, temperature_K: float, rng):
    """Maxwell-Boltzmann momenta at temperature_K with zero total momentum, then scaled so
    that the kinetic temperature over 3N-3 degrees of freedom is exactly temperature_K
    (ASE units: amu * A / ASE-time)."""
    from ase import units

    m = atoms.get_masses()[:, None]
    p = rng.standard_normal((len(atoms), 3)) * np.sqrt(m * units.kB * temperature_K)
    if len(atoms) > 1:
        p -= m * (p.sum(axis=0) / m.sum())
        dof = 3 * len(atoms) - 3
        ekin = 0.5 * np.sum(p * p / m)
        if ekin > 0 and temperature_K > 0:
            p *= np.sqrt(0.5 * dof * units.kB * temperature_K / ekin)
    return p
