"""Shared test helpers: random structures, random models, finite differences."""
import numpy as np
from ase import Atoms
from ase.build import bulk

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


def synthetic_structures(rng):
    """Strained, rattled diamond cells (some with close pairs inside the ZBL range) and
    one open cluster."""
    out = []
    for k in range(10):
        a = bulk("Si", "diamond", a=5.43, cubic=True)
        if k % 4 == 3:
            a = a.repeat((2, 1, 1))
        strain = np.eye(3) + rng.uniform(-0.03, 0.03, size=(3, 3))
        a.set_cell(a.cell.array @ strain, scale_atoms=True)
        a.positions += rng.normal(scale=0.15, size=a.positions.shape)
        if k % 5 == 1:  # a close pair: the ZBL reference part is non-zero
            a.positions[1] = a.positions[0] + [0.9, 0.7, 0.6]
        a.info["config_type"] = "bulk" if k % 2 else "strained"
        out.append(a)
    cluster = bulk("Si", "diamond", a=5.43, cubic=True)[:5]
    cluster.pbc = False
    cluster.cell = [0, 0, 0]
    cluster.positions += rng.normal(scale=0.1, size=(5, 3))
    cluster.info["config_type"] = "cluster"
    out.append(cluster)
    return out


def write_exact_extxyz(path, frames, results):
    """Extended XYZ with 17 significant digits everywhere (ASE writes %16.8f columns,
    whose rounding would limit the recovery test to ~1e-5)."""
    f = lambda x: "%.17g" % x  # noqa: E731
    with open(path, "w") as fh:
        for a, r in zip(frames, results):
            head = [f'Properties=species:S:1:pos:R:3:forces:R:3 energy={f(r["energy"])}',
                    f'config_type={a.info["config_type"]}',
                    'pbc="%s"' % " ".join("T" if p else "F" for p in a.pbc)]
            if all(a.pbc):
                head.insert(0, 'Lattice="%s"' % " ".join(map(f, a.cell.array.ravel())))
                s = r["stress"]  # Voigt xx yy zz yz xz xy -> full 3x3
                m = [s[0], s[5], s[4], s[5], s[1], s[3], s[4], s[3], s[2]]
                head.append('stress="%s"' % " ".join(map(f, m)))
            fh.write(f"{len(a)}\n{' '.join(head)}\n")
            for sym, x, fr in zip(a.get_chemical_symbols(), a.positions, r["forces"]):
                fh.write(" ".join([sym] + [f(v) for v in (*x, *fr)]) + "\n")


def labels(frames, calc):
    """Energy, forces (and stress of periodic cells) of each frame from calc, in the form
    write_exact_extxyz takes."""
    out = []
    for a in frames:
        a.calc = calc
        out.append({"energy": a.get_potential_energy(), "forces": a.get_forces()})
        if all(a.pbc):
            out[-1]["stress"] = a.get_stress()
    return out


def five_element_cell(elements, seed=21, n_atoms=15):
    """A triclinic periodic cell holding every one of `elements` (three atoms each by
    default), for the five-element tests."""
    at = random_structure(elements, n_atoms, seed, periodic=True, triclinic=True, density=0.07)
    assert set(at.get_chemical_symbols()) == set(elements)
    return at


def with_calculator(model, atoms):
    """A copy of atoms with an ACECalculator of model attached."""
    from ace_lin import ACECalculator

    atoms = atoms.copy()
    atoms.calc = ACECalculator(model)
    return atoms
