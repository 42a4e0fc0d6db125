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

__all__ = ["NeighbourList", "VerletNeighbours", "neighbour_list", "neighbour_list_from_atoms"]


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


class VerletNeighbours:
    """Neighbour lists of one structure as it moves (MD through ASE), each bitwise the list
    neighbour_list would build, at a fraction of its cost: a list built with cutoff + skin
    serves as the candidates while every atom stays within skin/2 of where it was at the
    build, and the cell, pbc and atom count do not change; each call then only recomputes
    dr of the candidates and keeps those below the cutoff (C, the build's own formula).
    Otherwise it builds anew. A call at the positions, cell and pbc of the call before
    (the energy and then the grade of one frame) returns that call's list. builds counts
    the builds. skin in Angstrom."""

    def __init__(self, cutoff: float, skin: float = 0.5):
        if not skin >= 0:
            raise ValueError(f"skin must be >= 0 A, got {skin}")
        self.cutoff, self.skin = float(cutoff), float(skin)
        self.builds = 0
        self._key = None
        self._pos0 = None
        self._cand = None
        self._last = None  # (key, positions, list) of the call before

    def __call__(self, positions, cell, pbc) -> NeighbourList:
        from ace_lin._neighbours import refilter

        pos = np.ascontiguousarray(positions, dtype=np.float64)
        c = np.zeros((3, 3)) if cell is None else np.ascontiguousarray(
            getattr(cell, "array", cell), dtype=np.float64)
        key = (pos.shape, c.tobytes(), tuple(_pbc3(pbc)))
        if self._last is not None and key == self._last[0] and np.array_equal(pos, self._last[1]):
            return self._last[2]
        if self.skin == 0:
            self.builds += 1
            nl = neighbour_list(pos, c, pbc, self.cutoff)
        else:
            if key != self._key or not self._within_skin(pos):
                cand = neighbour_list(pos, c, pbc, self.cutoff + self.skin)
                self._cand = (cand.start, cand.j, cand.shift)  # dr is recomputed at every call
                self._key, self._pos0 = key, pos.copy()
                self.builds += 1
            start, j, shift, dr = refilter(pos, c, *self._cand, self.cutoff)
            nl = NeighbourList(start=start, j=j, shift=shift, dr=dr)
        self._last = (key, pos.copy(), nl)
        return nl

    def _within_skin(self, pos) -> bool:
        d = pos - self._pos0
        # a margin far above rounding: a pair at cutoff + skin by the build's arithmetic
        # must not come within the cutoff by this one's
        return bool(np.sqrt(np.max(np.einsum("ij,ij->i", d, d), initial=0.0))
                    < 0.5 * self.skin * (1 - 1e-9))

    def from_atoms(self, atoms) -> NeighbourList:
        return self(atoms.positions, atoms.cell.array, atoms.pbc)
