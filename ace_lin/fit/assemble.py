"""Streaming, bounded-memory assembly of the weighted least-squares system.

For blocks of configurations we build the weighted rows [E/N; F; stress] of the design
matrix (targets minus fixed E0 and minus the fixed ZBL reference part) and fold each block
into an accumulated upper-triangular factor: R <- qr([R; W A_block]). The targets ride
along as an extra column, so the (p+1) x (p+1) factor of [W A | W y] holds R, Q^T W y
(last column) and the norm of the residual no coefficient can reach (corner element).

Why QR and not normal equations: the normal matrix A^T A squares the condition number
of A. ACE design matrices are badly conditioned (kappa(A) ~ 1e6-1e8 is common), so A^T A
would lose most digits of the small singular directions, exactly those the smoothness
prior and evidence maximization must judge. The triangular factor keeps kappa(A).
Memory is O(p^2 + block_rows * p) whatever the data size: 10^6 force rows x 2000
functions never exist as one dense matrix (16 GB); a block of at most 256 MB does.

Each fold uses LAPACK's triangular-pentagonal QR (dtpqrt), which exploits that R is
already triangular: cost 2 m p^2 for m new rows, as for one Householder QR of all rows.
A tall block (m >= 2p) is first reduced by its own QR (dgeqrt, faster per row), whose
triangle is then folded in.
No column scaling happens here: Householder QR is column-scale invariant (columnwise
backward stable) and R(A S) = R(A) S exactly, so the solver scales R's columns.

Design rows of a configuration come from the C core (ace_lin.evaluate.design_rows, OpenMP
inside). With an mpi4py communicator, blocks are dealt round-robin to ranks; each rank
folds its blocks in order, then the rank-local factors are stacked in rank order and
re-factorized. Same input, same block size and same number of ranks give bit-identical
results on the same machine (fixed block and reduction order).
"""
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy.linalg import lapack

from ace_lin.fit.weights import WeightSettings, config_row_weights

DEFAULT_MAX_BLOCK_MB = 256.0  # dense rows per streamed block (see make_blocks)
_COPY_COLUMNS = 128  # column tile of the force rows' copy: 1.4 instead of 2.3 ns/element


class StreamingQR:
    """Accumulates the triangular factor of [A | y] block by block (p columns + target)."""

    def __init__(self, n_columns: int):
        self.p = int(n_columns)
        # Fortran order: LAPACK works in place on column-major arrays
        self._r = np.zeros((self.p + 1, self.p + 1), order="F")
        self.n_rows = 0

    @classmethod
    def from_factor(cls, factor: np.ndarray, n_rows: int) -> "StreamingQR":
        """An accumulator holding an existing (p+1) x (p+1) triangular factor of n_rows rows."""
        acc = cls(factor.shape[0] - 1)
        acc._r = np.asfortranarray(np.array(factor, dtype=float))
        acc.n_rows = int(n_rows)
        return acc

    def add(self, A: np.ndarray, y: np.ndarray) -> None:
        """Fold rows A [m, p] with targets y [m] into the factor."""
        A = np.asarray(A, dtype=float)
        if A.ndim != 2 or A.shape[1] != self.p or y.shape != (A.shape[0],):
            raise ValueError(f"block shape {A.shape} / {y.shape} does not match p = {self.p}")
        if A.shape[0] == 0:
            return
        block = np.empty((A.shape[0], self.p + 1), order="F")
        block[:, :self.p] = A
        block[:, self.p] = y
        self.add_rows(block)

    def add_rows(self, block: np.ndarray) -> None:
        """Fold rows [A | y] (m x (p+1), Fortran order; overwritten) into the factor."""
        if block.ndim != 2 or block.shape[1] != self.p + 1 or not block.flags.f_contiguous:
            raise ValueError(f"row block must be a Fortran-ordered m x {self.p + 1} array")
        m, n = block.shape
        if m == 0:
            return
        if m >= 2 * n:
            # a tall block gets its own QR first: dgeqrt's recursive panels run faster than
            # dtpqrt's on the same rows (p = 1484, 2 cores: 49 against 74 us/row alone,
            # 59 against 66 with the triangular fold), and the fold of its triangle is cheap
            qr, _, info = lapack.dgeqrt(min(128, n), block, overwrite_a=1)
            if info != 0:
                raise RuntimeError(f"dgeqrt failed with info = {info}")
            tri = np.asfortranarray(np.triu(qr[:n]))  # without the reflectors below it
            if self.n_rows == 0:
                self._r = tri
            else:
                self._fold(tri, triangular=True)
        else:
            self._fold(block)
        self.n_rows += m

    def _fold(self, block: np.ndarray, triangular: bool = False) -> None:
        """triangular: block is an upper-triangular (p+1)-square factor, which LAPACK folds
        in a third of the work of a full block of as many rows."""
        n = self.p + 1
        r, _, _, info = lapack.dtpqrt(n if triangular else 0, min(64, n), self._r, block,
                                      overwrite_a=1, overwrite_b=1)
        if info != 0:
            raise RuntimeError(f"dtpqrt failed with info = {info}")
        # dtpqrt writes R on and above the diagonal and never touches the (zero) strict
        # lower triangle, so the result is the factor as it is: no copy per fold
        self._r = r if r.flags.f_contiguous else np.asfortranarray(r)

    def merge(self, other: "StreamingQR") -> None:
        """Fold another accumulator's factor into this one (rank reduction)."""
        if other.p != self.p:
            raise ValueError("cannot merge factors with different column counts")
        if self.n_rows == 0:  # nothing to fold into: take the other factor as it is
            self._r = np.asfortranarray(other._r.copy())
        else:
            self._fold(np.asfortranarray(np.triu(other._r)), triangular=True)
        self.n_rows += other.n_rows

    def factor(self) -> np.ndarray:
        """(p+1) x (p+1) upper-triangular factor with a non-negative diagonal (a unique
        sign convention, so that results compare across runs and paths)."""
        r = np.array(self._r, order="C")
        sign = np.where(np.diag(r) < 0, -1.0, 1.0)
        return r * sign[:, None]


@dataclass
class LinearSystem:
    """The accumulated least-squares system: W A = Q R, qty = Q^T W y,
    rss0 = ||W y||^2 - ||qty||^2. Columns: the basis functions, then one E0 column per
    element in `e0_elements` (per-atom count / N in the energy rows)."""
    R: np.ndarray
    qty: np.ndarray
    rss0: float
    n_rows: int
    n_basis: int
    e0_elements: List[str]
    counts: Dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_factor(cls, factor: np.ndarray, n_rows: int, n_basis: int,
                    e0_elements: Sequence[str], counts: Optional[dict] = None) -> "LinearSystem":
        p = factor.shape[0] - 1
        return cls(R=factor[:p, :p].copy(), qty=factor[:p, p].copy(),
                   rss0=float(factor[p, p] ** 2), n_rows=int(n_rows), n_basis=int(n_basis),
                   e0_elements=list(e0_elements), counts=dict(counts or {}))

    def factor(self) -> np.ndarray:
        """The (p+1) x (p+1) triangular factor of [W A | W y] (inverse of from_factor)."""
        p = self.R.shape[0]
        out = np.zeros((p + 1, p + 1))
        out[:p, :p], out[:p, p], out[p, p] = self.R, self.qty, np.sqrt(max(self.rss0, 0.0))
        return out


def _config_weights(config, settings: WeightSettings):
    """(row weights, cell volume in A^3 or None, number of rows) of one configuration (rows
    of weight 0 are left out)."""
    atoms = config.atoms
    n = len(atoms)
    periodic = bool(np.all(atoms.pbc))
    volume = atoms.get_volume() if periodic else None
    has_stress = config.stress is not None and periodic
    w = config_row_weights(settings, n, volume, config.config_type, config.weight, has_stress)
    m = (w.energy > 0) + (3 * n if w.forces > 0 else 0) + (6 if w.stress > 0 else 0)
    return w, volume, int(m)


def write_config_rows(out: np.ndarray, r0: int, config, design, reference,
                      settings: WeightSettings, elements: Sequence[str],
                      e0_fixed: Dict[str, float], e0_fit: Sequence[str]) -> Dict[str, int]:
    """Write the weighted rows of one configuration into out[r0:r0 + m] (columns: the p
    basis functions, the E0 columns, then the target) and return the row counts by kind.
    Writing in place into the block that LAPACK folds avoids a copy per row per stage.

    design: .energy [p], .forces [n, 3, p], .virial [6, p] (eV, dE/d(strain));
    reference: .energy, .forces [n, 3], .virial [6] (the fixed ZBL part)."""
    n = len(config.atoms)
    p = np.asarray(design.energy).shape[0]
    ne = len(e0_fit)
    if out.shape[1] != p + ne + 1:
        raise ValueError(f"row block has {out.shape[1]} columns, expected {p + ne + 1}")
    w, volume, _ = _config_weights(config, settings)
    by_el = dict(zip(elements, config.species_counts(elements)))
    n_by_kind = {"energy": 0, "forces": 0, "stress": 0}
    r = r0
    if w.energy > 0:
        e_fixed = sum(by_el[e] * e0_fixed[e] for e in elements if e in e0_fixed and by_el[e])
        out[r, :p] = np.asarray(design.energy) * (w.energy / n)
        out[r, p:p + ne] = [w.energy * by_el[e] / n for e in e0_fit]
        out[r, p + ne] = w.energy * (config.energy - e_fixed - float(reference.energy)) / n
        n_by_kind["energy"] = 1
        r += 1
    if w.forces > 0:
        rows = slice(r, r + 3 * n)
        forces = np.asarray(design.forces).reshape(3 * n, p)
        for c in range(0, p, _COPY_COLUMNS):  # transposing copy (C to Fortran), in cache tiles
            cols = slice(c, min(c + _COPY_COLUMNS, p))
            np.multiply(forces[:, cols], w.forces, out=out[rows, cols])
        out[rows, p:p + ne] = 0.0
        out[rows, p + ne] = w.forces * (config.forces - np.asarray(reference.forces)).reshape(3 * n)
        n_by_kind["forces"] = 3 * n
        r += 3 * n
    if w.stress > 0:
        rows = slice(r, r + 6)
        np.multiply(np.asarray(design.virial), w.stress / volume, out=out[rows, :p])
        out[rows, p:p + ne] = 0.0
        out[rows, p + ne] = w.stress * (config.stress - np.asarray(reference.virial) / volume)
        n_by_kind["stress"] = 6
    return n_by_kind


def config_rows(config, design, reference, settings: WeightSettings,
                elements: Sequence[str], e0_fixed: Dict[str, float],
                e0_fit: Sequence[str]) -> Tuple[np.ndarray, np.ndarray, Dict[str, int]]:
    """Weighted rows A [m, p + len(e0_fit)] and targets y [m] of one configuration, with
    row counts by kind (see write_config_rows)."""
    p = np.asarray(design.energy).shape[0]
    _, _, m = _config_weights(config, settings)
    out = np.zeros((m, p + len(e0_fit) + 1))
    counts = write_config_rows(out, 0, config, design, reference, settings, elements,
                               e0_fixed, e0_fit)
    return out[:, :-1], out[:, -1].copy(), counts


def core_provider(spec, n_threads: Optional[int] = None) -> Callable:
    """atoms -> (design rows, reference terms) from the C core."""
    from ace_lin.evaluate import design_and_reference

    def provide(atoms):
        return design_and_reference(spec, atoms, n_threads=n_threads)

    return provide


def make_blocks(configs: Sequence, n_columns: int, block_rows: Optional[int] = None,
                max_block_mb: float = DEFAULT_MAX_BLOCK_MB, n_ranks: int = 1) -> List[List[int]]:
    """Consecutive configuration indices grouped into blocks of about `block_rows` rows.

    Default: as many rows as fit in max_block_mb of dense rows (p + 1 columns), because
    dtpqrt runs at a fraction of GEMM speed on short blocks: at p = 1483 on 2 cores a fold
    costs 155 us/row with 4p-row blocks and 73 us/row with 16p (p = 342: 26 vs 8 us/row,
    4p vs 64p). Under MPI a block holds at most 1/n_ranks of the rows, so that every rank
    gets work. A configuration is never split."""
    sizes = [1 + 3 * len(c.atoms) + (6 if c.stress is not None else 0) for c in configs]
    if block_rows is None:
        block_rows = max(1, int(max_block_mb * 2**20 / (8 * (n_columns + 1))))
        if n_ranks > 1:
            block_rows = min(block_rows, -(-sum(sizes) // n_ranks))
    blocks, cur, rows = [], [], 0
    for i, m in enumerate(sizes):
        if cur and rows + m > block_rows:
            blocks.append(cur)
            cur, rows = [], 0
        cur.append(i)
        rows += m
    if cur:
        blocks.append(cur)
    return blocks


def assemble(configs: Sequence, n_basis: int, provider: Callable, settings: WeightSettings,
             elements: Sequence[str], e0_fixed: Dict[str, float], e0_fit: Sequence[str] = (),
             block_rows: Optional[int] = None, progress: bool = False, comm=None) -> LinearSystem:
    """Fold all configurations into a LinearSystem.

    provider: atoms -> (design rows, reference terms), e.g. core_provider(spec).
    e0_fixed: {element: E0 eV} subtracted from the energies; e0_fit: elements whose E0
    is fitted (one column each). comm: an mpi4py communicator, or None for serial.
    """
    missing = [e for e in elements if e not in e0_fixed and e not in e0_fit]
    if missing:
        raise ValueError(f"no E0 for element(s) {missing}: give it, or fit it")
    p = int(n_basis) + len(e0_fit)
    rank, size = (comm.Get_rank(), comm.Get_size()) if comm is not None else (0, 1)
    blocks = make_blocks(configs, p, block_rows, n_ranks=size)
    mine = [b for k, b in enumerate(blocks) if k % size == rank]
    acc = StreamingQR(p)
    counts = {"configs": 0, "energy": 0, "forces": 0, "stress": 0}
    t0 = time.perf_counter()
    bar = None
    if progress and rank == 0:
        from tqdm import tqdm

        bar = tqdm(total=sum(len(b) for b in mine), desc="assembling", unit="config")
    sizes = {i: _config_weights(configs[i], settings)[2] for b in mine for i in b}
    # one buffer for all blocks: a fresh 256 MB array per block would be paged in anew
    buf = np.empty(max((sum(sizes[i] for i in b) for b in mine), default=0) * (p + 1))
    for block in mine:
        m_rows = sum(sizes[i] for i in block)
        rows = buf[:m_rows * (p + 1)].reshape((m_rows, p + 1), order="F")  # [A | y]
        r0 = 0
        for i in block:
            m = sizes[i]
            if m:  # a configuration whose weights are all 0 needs no design rows
                design, ref = provider(configs[i].atoms)
                if np.asarray(design.energy).shape != (n_basis,):
                    raise ValueError(f"design rows have {np.asarray(design.energy).shape} "
                                     f"columns, expected {n_basis}")
                nk = write_config_rows(rows, r0, configs[i], design, ref, settings, elements,
                                       e0_fixed, e0_fit)
                r0 += m
                for k, v in nk.items():
                    counts[k] += v
            counts["configs"] += 1
            if bar is not None:
                bar.update(1)
        acc.add_rows(rows)
    if bar is not None:
        bar.close()
    if comm is not None and size > 1:
        acc, counts = _reduce_ranks(comm, acc, counts)
    counts["seconds"] = round(time.perf_counter() - t0, 3)
    return LinearSystem.from_factor(acc.factor(), acc.n_rows, n_basis, e0_fit, counts)


def _reduce_ranks(comm, acc: StreamingQR, counts: dict):
    """Stack the rank-local factors in rank order and re-factorize (on rank 0), then
    share the result so that every rank returns the same system."""
    parts = comm.gather((acc._r, acc.n_rows, counts), root=0)
    if comm.Get_rank() == 0:
        total = StreamingQR(acc.p)
        merged = {k: 0 for k in counts}
        for r, n_rows, c in parts:  # rank order: deterministic reduction
            total.merge(StreamingQR.from_factor(r, n_rows))
            for k in merged:
                merged[k] += c[k]
        result = (total._r, total.n_rows, merged)
    else:
        result = None
    r, n_rows, merged = comm.bcast(result, root=0)
    return StreamingQR.from_factor(r, n_rows), merged


def merge_systems(systems: Sequence[LinearSystem]) -> LinearSystem:
    """The LinearSystem of the union of the rows of `systems` (same columns): their
    factors folded into one, as the MPI reduction of the assembly does."""
    first = systems[0]
    acc = StreamingQR(first.R.shape[0])
    counts = {}
    for s in systems:
        if s.R.shape != first.R.shape or s.e0_elements != first.e0_elements:
            raise ValueError("systems with different columns cannot be merged")
        acc.merge(StreamingQR.from_factor(s.factor(), s.n_rows))
        for key, v in s.counts.items():
            if key != "seconds":
                counts[key] = counts.get(key, 0) + v
    return LinearSystem.from_factor(acc.factor(), acc.n_rows, first.n_basis, first.e0_elements,
                                    counts)
