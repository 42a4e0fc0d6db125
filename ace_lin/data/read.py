"""Read DFT training data into a list of `Config`.

Anything `ase.io.read(path, ":")` reads is accepted (extended XYZ first; VASP OUTCAR and
vasprun.xml go through ASE's own readers). Units on return: energy eV, forces eV/A,
stress eV/A^3 in ASE sign (positive under tension) and Voigt order xx yy zz yz xz xy.

Where the numbers come from, per quantity:
- default: the SinglePointCalculator that ASE attaches when it reads a file
  (extxyz `energy=`, `stress=`, the `forces` column; OUTCAR; vasprun);
  where a reader gives both a free energy and a sigma -> 0 energy (VASP with smearing),
  the free energy is taken, because the forces are its gradient;
- `energy_key`, `forces_key`, `stress_key`: a key of `atoms.info` (energy, stress) or
  `atoms.arrays` (forces), e.g. `energy_key="dft_energy"`; `energy_key` may also name a
  calculator result ("energy" for VASP's sigma -> 0 energy);
- `virial_key`: an `atoms.info` key holding the virial W in eV (3x3 or 6 Voigt numbers,
  W = -V * stress), converted here to stress = -W / V.

Every error names the file and the frame index, so a bad frame in a big file is easy
to find.
"""
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np


class DataError(ValueError):
    """Invalid or missing training data; the message names the file and the frame."""


@dataclass
class Config:
    """One training configuration.

    atoms        ase.Atoms (positions A, cell A); any attached calculator is dropped
    energy       total energy, eV
    forces       [n_atoms, 3] eV/A
    stress       [6] eV/A^3, ASE sign, Voigt xx yy zz yz xz xy; None if not available
                 or the cell is not periodic in all three directions
    weight       per-configuration weight multiplying all its rows (default 1)
    config_type  group name used for per-group weights and error tables
    source       "file:frame" for messages
    """
    atoms: object
    energy: float
    forces: np.ndarray
    stress: Optional[np.ndarray] = None
    weight: float = 1.0
    config_type: str = "default"
    source: str = ""

    @property
    def n_atoms(self) -> int:
        return len(self.atoms)

    def species_counts(self, elements: Sequence[str]) -> np.ndarray:
        """Number of atoms of each element, in the order of `elements`."""
        symbols = self.atoms.get_chemical_symbols()
        return np.array([symbols.count(e) for e in elements], dtype=float)


@dataclass(frozen=True)
class ReadOptions:
    """Where to find each quantity (None = the attached calculator); see module docstring."""
    energy_key: Optional[str] = None
    forces_key: Optional[str] = None
    stress_key: Optional[str] = None
    virial_key: Optional[str] = None
    weight_key: Optional[str] = None
    config_type_key: str = "config_type"
    default_config_type: str = "default"


def _voigt_from(value, where: str, what: str) -> np.ndarray:
    """3x3 / 9 / 6 numbers -> Voigt [6] (xx yy zz yz xz xy)."""
    a = np.asarray(value, dtype=float)
    if a.size == 9:
        m = a.reshape(3, 3)
        if not np.allclose(m, m.T, rtol=1e-8, atol=1e-10 * max(1.0, np.abs(m).max())):
            raise DataError(f"{where}: {what} is not symmetric")
        return np.array([m[0, 0], m[1, 1], m[2, 2], m[1, 2], m[0, 2], m[0, 1]])
    if a.size == 6:
        return a.reshape(6).copy()
    raise DataError(f"{where}: {what} must have 6 (Voigt) or 9 (3x3) numbers, got shape {a.shape}")


def _calc_results(atoms) -> dict:
    calc = atoms.calc
    return dict(getattr(calc, "results", {}) or {}) if calc is not None else {}


def _read_energy(atoms, res: dict, opts: ReadOptions, where: str) -> float:
    key = opts.energy_key
    if key is not None:
        if key in atoms.info:
            value = atoms.info[key]
        elif key in res:  # a calculator result, e.g. VASP's "free_energy" or "energy"
            value = res[key]
        else:
            raise DataError(f"{where}: no energy: key {key!r} is neither an info key "
                            f"{sorted(atoms.info)} nor a calculator result {sorted(res)}")
    else:
        # forces are the gradient of the free energy (VASP's TOTEN, with electronic
        # smearing), not of the sigma -> 0 "energy": prefer it where a reader gives both
        value = res.get("free_energy", res.get("energy"))
        if value is None:
            raise DataError(f"{where}: no energy (no calculator energy; set energy_key to an "
                            f"info key, info keys: {sorted(atoms.info)})")
    try:
        energy = float(np.asarray(value, dtype=float).reshape(()))
    except (TypeError, ValueError):
        raise DataError(f"{where}: energy is not one number: {value!r}") from None
    if not np.isfinite(energy):
        raise DataError(f"{where}: energy is {energy}")
    return energy


def _read_forces(atoms, res: dict, opts: ReadOptions, where: str) -> np.ndarray:
    if opts.forces_key is not None:
        if opts.forces_key not in atoms.arrays:
            raise DataError(f"{where}: no forces: arrays key {opts.forces_key!r} missing "
                            f"(arrays keys: {sorted(atoms.arrays)})")
        value = atoms.arrays[opts.forces_key]
    else:
        value = res.get("forces")
        if value is None:
            raise DataError(f"{where}: no forces (no calculator forces; set forces_key to an "
                            f"arrays key, arrays keys: {sorted(atoms.arrays)})")
    forces = np.array(value, dtype=float)
    if forces.shape != (len(atoms), 3):
        raise DataError(f"{where}: forces have shape {forces.shape}, expected ({len(atoms)}, 3)")
    if not np.all(np.isfinite(forces)):
        raise DataError(f"{where}: forces contain NaN or inf")
    return forces


def _read_stress(atoms, res: dict, opts: ReadOptions, where: str) -> Optional[np.ndarray]:
    if opts.virial_key is not None:
        if opts.virial_key not in atoms.info:
            return None
        stress = -_voigt_from(atoms.info[opts.virial_key], where, "virial") / atoms.get_volume()
    elif opts.stress_key is not None:
        if opts.stress_key not in atoms.info:
            return None
        stress = _voigt_from(atoms.info[opts.stress_key], where, "stress")
    else:
        if res.get("stress") is None:
            return None
        stress = _voigt_from(res["stress"], where, "stress")
    if not np.all(np.isfinite(stress)):
        raise DataError(f"{where}: stress contains NaN or inf")
    return stress


def _read_weight(atoms, opts: ReadOptions, where: str) -> float:
    if opts.weight_key is None or opts.weight_key not in atoms.info:
        return 1.0
    try:
        w = float(atoms.info[opts.weight_key])
    except (TypeError, ValueError):
        raise DataError(f"{where}: weight {atoms.info[opts.weight_key]!r} is not a number") from None
    if not np.isfinite(w) or w < 0:
        raise DataError(f"{where}: weight must be a finite number >= 0, got {w}")
    return w


def frame_to_config(atoms, opts: ReadOptions, where: str,
                    elements: Optional[Sequence[str]] = None) -> Config:
    """One ase.Atoms (with calculator or info/arrays keys) -> Config."""
    if len(atoms) == 0:
        raise DataError(f"{where}: frame has no atoms")
    if elements is not None:
        unknown = sorted(set(atoms.get_chemical_symbols()) - set(elements))
        if unknown:
            raise DataError(f"{where}: element(s) {unknown} not in the element list {list(elements)}")
    if not np.all(np.isfinite(atoms.positions)):
        raise DataError(f"{where}: positions contain NaN or inf")
    res = _calc_results(atoms)
    energy = _read_energy(atoms, res, opts, where)
    forces = _read_forces(atoms, res, opts, where)
    # a stress needs a volume: only cells periodic in all three directions keep one
    stress = _read_stress(atoms, res, opts, where) if all(atoms.pbc) else None
    weight = _read_weight(atoms, opts, where)
    config_type = str(atoms.info.get(opts.config_type_key, opts.default_config_type))
    clean = atoms.copy()  # copy() drops the calculator: the targets live in the Config only
    return Config(atoms=clean, energy=energy, forces=forces, stress=stress, weight=weight,
                  config_type=config_type, source=where)


def read_configs(path: str, elements: Optional[Sequence[str]] = None,
                 options: Optional[ReadOptions] = None, index: str = ":",
                 format: Optional[str] = None) -> List[Config]:
    """Read all frames of `path` into Configs.

    elements: if given, frames with other elements are an error (naming file and frame).
    """
    import ase.io

    opts = options or ReadOptions()
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    if os.path.getsize(path) == 0:
        raise DataError(f"{path}: file is empty")
    try:
        frames = ase.io.read(path, index=index, format=format)
    except Exception as exc:  # ASE raises many types; keep the reason, name the file
        raise DataError(f"{path}: cannot read: {type(exc).__name__}: {exc}") from None
    if not isinstance(frames, list):
        frames = [frames]
    if not frames:
        raise DataError(f"{path}: no frames")
    return [frame_to_config(a, opts, f"{path}:{i}", elements) for i, a in enumerate(frames)]


def infer_elements(configs: Sequence[Config]) -> List[str]:
    """Elements present in the data, sorted by atomic number (deterministic)."""
    from ase.data import atomic_numbers

    found = set()
    for c in configs:
        found.update(c.atoms.get_chemical_symbols())
    return sorted(found, key=lambda s: atomic_numbers[s])


def is_isolated_atom(atoms, min_box: float) -> bool:
    """One atom with no periodic image within `min_box` A (open, or a box at least that wide)."""
    if len(atoms) != 1:
        return False
    if not any(atoms.pbc):
        return True
    cell = np.asarray(atoms.cell.array)
    # perpendicular widths of the cell: V / |a_j x a_k|
    vol = abs(np.linalg.det(cell)) if np.linalg.matrix_rank(cell) == 3 else 0.0
    if vol == 0.0:
        return False
    widths = [vol / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)]
    return all(w >= min_box for w, p in zip(widths, atoms.pbc) if p)


def split_isolated_atoms(configs: Sequence[Config], min_box: float
                         ) -> Tuple[Dict[str, float], List[Config]]:
    """Separate isolated-atom frames, which define E0 per element.

    Returns ({element: E0 eV}, remaining configs). Two isolated-atom frames of one
    element with different energies (> 1 meV apart) are an error: E0 would be ambiguous.
    """
    e0: Dict[str, float] = {}
    origin: Dict[str, str] = {}
    rest = []
    for c in configs:
        if is_isolated_atom(c.atoms, min_box):
            el = c.atoms.get_chemical_symbols()[0]
            if el in e0 and abs(e0[el] - c.energy) > 1e-3:
                raise DataError(f"{c.source}: isolated {el} atom has energy {c.energy} eV, but "
                                f"{origin[el]} has {e0[el]} eV")
            e0.setdefault(el, c.energy)
            origin.setdefault(el, c.source)
        else:
            rest.append(c)
    return e0, rest
