"""Evaluate a model (or the design rows of a basis) on an ase.Atoms structure.

Builds the neighbour list in C and calls the C core (which also scatters the per-bond
gradients to forces and the virial). Units: eV, A, eV/A; virial dE/d(strain) in eV (Voigt).
"""
from dataclasses import dataclass

import numpy as np

from ace_lin.neighbours import neighbour_list_from_atoms


def species_indices(atoms, elements) -> np.ndarray:
    """Species index of every atom; a clear error for elements the model lacks."""
    from ase.data import atomic_numbers, chemical_symbols

    table = np.full(len(chemical_symbols), -1, dtype=np.int32)  # atomic number -> species
    for k, e in enumerate(elements):
        table[atomic_numbers[e]] = k
    species = table[atoms.numbers]
    if np.any(species < 0):
        unknown = sorted({chemical_symbols[z] for z in atoms.numbers[species < 0]})
        raise ValueError(f"element(s) {unknown} not in the model (model elements: {list(elements)})")
    return species


def check_structure(atoms):
    """Refuse structures the core cannot evaluate, with a message saying why."""
    if len(atoms) == 0:
        raise ValueError("empty structure: no atoms to evaluate")
    pos = atoms.get_positions()
    if not np.all(np.isfinite(pos)):
        raise ValueError("atom positions contain NaN or Inf")
    if not np.all(np.isfinite(atoms.cell.array)):
        raise ValueError("cell contains NaN or Inf")
    if all(atoms.pbc) and abs(np.linalg.det(atoms.cell.array)) < 1e-12:
        raise ValueError("periodic structure with a singular cell (zero volume)")


def _bonds(atoms, cutoff, species, neighbours=None):
    nl = neighbours(atoms) if neighbours is not None else neighbour_list_from_atoms(atoms, cutoff)
    return nl, species[nl.j]


@dataclass(frozen=True)
class Properties:
    energy: float            # eV
    energies: np.ndarray     # [n] eV per atom
    forces: np.ndarray       # [n, 3] eV/A
    virial: np.ndarray       # [6] dE/d(strain), eV, Voigt xx yy zz yz xz xy


def compute_properties(core, elements, atoms, n_threads=0, reference_only=False,
                       neighbours=None) -> Properties:
    """neighbours: a callable atoms -> NeighbourList at core.max_cutoff (a VerletNeighbours'
    from_atoms reuses its list); None builds one."""
    check_structure(atoms)
    species = species_indices(atoms, elements)
    nl, nspec = _bonds(atoms, core.max_cutoff, species, neighbours)
    energy, energies, forces, virial = core.evaluate(species, nl.start, nl.j, nspec, nl.dr,
                                                     n_threads=n_threads,
                                                     reference_only=reference_only)
    return Properties(energy, energies, forces, virial)


@dataclass(frozen=True)
class DesignRows:
    energy: np.ndarray   # [n_basis] dE/dc, eV
    forces: np.ndarray   # [n_atoms, 3, n_basis] dF/dc, eV/A
    virial: np.ndarray   # [6, n_basis] d(dE/d strain)/dc, eV; stress = virial / volume


_DESIGN_CORES = {}


def _design_core(spec):
    """A C model with zero coefficients for spec (cached): only its tables matter."""
    from ace_lin._core import CoreModel

    key = spec.spec_hash()
    if key not in _DESIGN_CORES:
        t = spec.basis()
        _DESIGN_CORES[key] = CoreModel.from_tables(t, np.zeros(t.n_basis), np.zeros(len(spec.elements)))
    return _DESIGN_CORES[key]


def _spec_of(spec_or_model):
    return getattr(spec_or_model, "spec", spec_or_model)


def design_rows(spec_or_model, atoms, n_threads=None) -> DesignRows:
    """Derivatives of energy, forces and virial with respect to the coefficients."""
    return design_and_reference(spec_or_model, atoms, n_threads, reference=False)[0]


def reference_terms(spec_or_model, atoms) -> Properties:
    """The fixed (not fitted) ZBL core part alone: no E0, no ACE part."""
    spec = _spec_of(spec_or_model)
    return compute_properties(_design_core(spec), spec.elements, atoms, reference_only=True)


def design_and_reference(spec_or_model, atoms, n_threads=None, reference=True):
    """(design_rows, reference_terms or None) of one structure from one neighbour list:
    the fit's assembly needs both, and the list costs as much as the reference terms."""
    spec = _spec_of(spec_or_model)
    core = _design_core(spec)
    check_structure(atoms)
    species = species_indices(atoms, spec.elements)
    nl, nspec = _bonds(atoms, core.max_cutoff, species)
    e, f, v = core.design(species, nl.start, nl.j, nspec, nl.dr, n_threads=n_threads or 0)
    ref = None
    if reference:
        ref = Properties(*core.evaluate(species, nl.start, nl.j, nspec, nl.dr,
                                        reference_only=True))
    return DesignRows(e, f, v), ref


def _core_and_elements(core_or_spec):
    """(C model, elements) from a CoreModel, a BasisSpec or a model (its design core)."""
    if hasattr(core_or_spec, "design") and hasattr(core_or_spec, "elements"):
        return core_or_spec, core_or_spec.elements
    spec = _spec_of(core_or_spec)
    return _design_core(spec), spec.elements


def basis_vectors(core_or_spec, atoms, n_threads=0) -> np.ndarray:
    """Per-atom basis vectors [n_atoms, n_basis]: row i holds the invariants of atom i's
    environment (0 for invariants of other centre species); their sum over atoms is the
    energy design row (no E0, no ZBL core term). Input of the active set (trust/)."""
    core, elements = _core_and_elements(core_or_spec)
    check_structure(atoms)
    species = species_indices(atoms, elements)
    nl, nspec = _bonds(atoms, core.max_cutoff, species)
    return core.basis_vectors(species, nl.start, nspec, nl.dr, n_threads=n_threads)


def compute_grade(core, elements, atoms, n_threads=0, neighbours=None) -> np.ndarray:
    """Extrapolation grade [n_atoms] of every atom (the C core's active-set maps);
    neighbours as for compute_properties."""
    check_structure(atoms)
    species = species_indices(atoms, elements)
    nl, nspec = _bonds(atoms, core.max_cutoff, species, neighbours)
    return core.grade(species, nl.start, nspec, nl.dr, n_threads=n_threads)
