"""Neighbour lists (C cell lists) for periodic, partly periodic and open structures.

Lengths in Angstrom. The list is "full": every pair appears as i->j and as j->i, and a
periodic image of atom i itself is a neighbour of i when it lies within the cutoff.
Bond b of centre i (start[i] <= b < start[i+1]) points to atom j[b] shifted by the
integer lattice vector shift[b]:

    dr[b] = positions[j[b]] + shift[b] @ cell - positions[i]      (A)

with the positions exactly as given (atoms outside the cell are allowed). A bond is
included iff |dr| < cutoff. Bonds are sorted by i, then by (j, shift).
"""
from dataclasses import dataclass

import numpy as np

__all__ = ["NeighbourList", "neighbour_list", "neighbour_list_from_atoms"]


@dataclass(frozen=True, eq=False)  # eq=False: == on arrays would be ambiguous
class NeighbourList:
    """Full neighbour list in CSR form (all numpy arrays)."""

    start: np.ndarray   # int64 [n_atoms+1]: bonds of atom i are start[i]:start[i+1]
    j: np.ndarray       # int32 [n_bonds]: neighbour atom index
    shift: np.ndarray   # int32 [n_bonds, 3]: lattice shift of the image of j
    dr: np.ndarray      # float64 [n_bonds, 3]: r_j + shift @ cell - r_i, Angstrom

    @property
    def n_atoms(self) -> int:
        return int(self.start.shape[0] - 1)

    @property
    def n_bonds(self) -> int:
        return int(self.j.shape[0])

    def i(self) -> np.ndarray:
        """Centre atom of every bond, int32 [n_bonds]."""
        return np.repeat(np.arange(self.n_atoms, dtype=np.int32), np.diff(self.start))

    def distances(self) -> np.ndarray:
        """|dr| of every bond, float64 [n_bonds], Angstrom."""
        return np.sqrt(np.einsum("bc,bc->b", self.dr, self.dr))


def _pbc3(pbc) -> np.ndarray:
    p = np.asarray(pbc, dtype=bool)
    if p.ndim == 0:
        p = np.repeat(p, 3)
    if p.shape != (3,):
        raise ValueError(f"pbc must be a bool or 3 bools, got shape {p.shape}")
    return p.astype(np.int32)


def neighbour_list(positions, cell, pbc, cutoff: float) -> NeighbourList:
    """Build the full neighbour list of a structure.

    positions: [n, 3] Cartesian coordinates, Angstrom.
    cell: [3, 3] lattice vectors as rows, Angstrom (ase.cell.Cell accepted). May be None
        or all zeros when no direction is periodic.
    pbc: bool or 3 bools, periodicity per lattice direction.
    cutoff: bonds with |dr| < cutoff (Angstrom, strict) are kept.

    Raises ValueError for bad shapes, NaN/Inf, cutoff <= 0, a singular cell in a
    periodic direction or a cell so small that the list would be absurdly large;
    MemoryError when the list does not fit in memory.
    """
    pos = np.ascontiguousarray(positions, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] != 3:
        if pos.size == 0:
            pos = pos.reshape(0, 3)
        else:
            raise ValueError(f"positions must have shape (n, 3), got {pos.shape}")
    if cell is None:
        c = np.zeros((3, 3))
    else:
        c = np.ascontiguousarray(getattr(cell, "array", cell), dtype=np.float64)
    if c.shape != (3, 3):
        raise ValueError(f"cell must have shape (3, 3), got {c.shape}")
    from ace_lin._neighbours import build

    start, j, shift, dr = build(pos, c, _pbc3(pbc), float(cutoff))
    return NeighbourList(start=start, j=j, shift=shift, dr=dr)


def neighbour_list_from_atoms(atoms, cutoff: float) -> NeighbourList:
    """neighbour_list for an ase.Atoms (positions and cell in Angstrom, its pbc)."""
    return neighbour_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff)
