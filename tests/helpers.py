"""Shared test helpers: random structures, random models, finite differences."""
import numpy as np
from ase import Atoms

from ace_lin import BasisSpec, LinearACEModel


def random_structure(symbols, n_atoms, seed, periodic=True, triclinic=True, density=0.06,
                     min_dist=1.7):
    """Random positions (no pair closer than min_dist A) in a (triclinic) cell or cluster."""
    rng = np.random.default_rng(seed)
    L = (n_atoms / density) ** (1 / 3)
    cell = np.eye(3) * L
    if triclinic:
        cell = cell + rng.uniform(-0.25, 0.25, size=(3, 3)) * L
    pos = []
    while len(pos) < n_atoms:
        p = rng.uniform(0, 1, 3) @ cell
        trial = Atoms("H" * (len(pos) + 1), positions=np.array(pos + [p]), cell=cell, pbc=periodic)
        if len(pos) == 0 or np.min(trial.get_distances(len(pos), range(len(pos)), mic=periodic)) > min_dist:
            pos.append(p)
    syms = [symbols[k % len(symbols)] for k in range(n_atoms)]
    rng.shuffle(syms)
    return Atoms(syms, positions=np.array(pos), cell=cell if periodic else None, pbc=periodic)


def random_model(spec: BasisSpec, seed=0, e0=None):
    """Coefficients decaying with degree, so that all orders contribute O(1)."""
    rng = np.random.default_rng(seed)
    t = spec.basis()
    c = rng.normal(size=spec.n_basis) * np.exp(-0.3 * t.degree)
    e0 = e0 if e0 is not None else {el: -1.0 - k for k, el in enumerate(spec.elements)}
    return LinearACEModel(spec, c, e0=e0)


def numerical_forces(atoms, h=1e-5):
    f = np.zeros((len(atoms), 3))
    for i in range(len(atoms)):
        for a in range(3):
            x = atoms.copy()
            x.calc = atoms.calc
            x.positions[i, a] += h
            ep = x.get_potential_energy()
            x.positions[i, a] -= 2 * h
            em = x.get_potential_energy()
            f[i, a] = -(ep - em) / (2 * h)
    return f


def numerical_stress(atoms, h=1e-6):
    """(1/V) dE/d(strain), ASE Voigt order, by symmetric strains."""
    pairs = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
    V = atoms.get_volume()
    out = np.zeros(6)
    for k, (a, b) in enumerate(pairs):
        e = []
        for s in (h, -h):
            eps = np.zeros((3, 3))
            eps[a, b] += s / 2 if a != b else s
            eps[b, a] += s / 2 if a != b else 0
            x = atoms.copy()
            x.calc = atoms.calc
            x.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
            e.append(x.get_potential_energy())
        out[k] = (e[0] - e[1]) / (2 * h) / V
    return out
