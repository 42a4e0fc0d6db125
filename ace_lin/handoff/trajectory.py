"""Random access to the frames of an extended-XYZ trajectory (such as `ace-lin md`'s).

index_frames scans only the frame headers (atom count and comment line) and keeps byte
offsets, so a long trajectory is not parsed whole. read_frame parses one frame: frames whose
columns are a species column and real columns (what `ace-lin md` writes) with numpy, in
about half the time of ASE's reader, which parses every other layout (and gives the same
Atoms: positions, cell, pbc, per-atom arrays, energy, forces and per-atom energies as a
single-point calculator; tests/test_snapshots.py compares the two).
"""
import io
from dataclasses import dataclass

from ase.io.extxyz import key_val_str_to_dict


class TrajectoryError(ValueError):
    """An unreadable trajectory or a selection/check it fails (one-line message)."""


@dataclass
class FrameHeader:
    index: int
    offset: int
    n_atoms: int
    info: dict


def index_frames(path):
    headers = []
    with open(path, "rb") as fh:
        while True:
            offset = fh.tell()
            line = fh.readline()
            if not line:
                break
            if not line.strip():
                continue
            try:
                n = int(line)
            except ValueError:
                raise TrajectoryError(f"{path}: frame {len(headers)} does not start with an atom "
                                      f"count (byte {offset})") from None
            comment = fh.readline()
            for _ in range(n):
                row = fh.readline()
                if not row.endswith(b"\n"):
                    raise TrajectoryError(f"{path}: frame {len(headers)} is cut short")
            try:
                info = key_val_str_to_dict(comment.decode().strip())
            except Exception as exc:  # ASE's parser raises several types
                raise TrajectoryError(f"{path}: frame {len(headers)}: bad comment line ({exc})") from None
            headers.append(FrameHeader(len(headers), offset, n, info))
    if not headers:
        raise TrajectoryError(f"{path}: no frames")
    return headers


def read_frame(path, header: FrameHeader):
    with open(path, "rb") as fh:
        fh.seek(header.offset)
        fh.readline()
        comment = fh.readline()
        rows = [fh.readline() for _ in range(header.n_atoms)]
    columns = _plain_columns(header.info.get("Properties"))
    if columns is not None and not {"stress", "virial"} & set(header.info):
        try:
            return _numpy_frame(header, columns, rows)
        except ValueError:
            pass  # let ASE parse it and say what is wrong
    from ase.io import read

    text = f"{header.n_atoms}\n".encode() + comment + b"".join(rows)
    return read(io.StringIO(text.decode()), format="extxyz")


def _plain_columns(props):
    """[(name, width)] when the Properties are 'species:S:1' then real columns, else None."""
    if not isinstance(props, str):
        return None
    f = props.split(":")
    if len(f) % 3 or f[:3] != ["species", "S", "1"]:
        return None
    cols = [(f[i], f[i + 1], f[i + 2]) for i in range(3, len(f), 3)]
    if any(kind != "R" or not width.isdigit() for _, kind, width in cols):
        return None
    names = [c[0] for c in cols]
    if "pos" not in names or len(set(names)) != len(names):
        return None
    return [(name, int(width)) for name, _, width in cols]


def _numpy_frame(header, columns, rows):
    import numpy as np
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    n = header.n_atoms
    width = 1 + sum(w for _, w in columns)
    tokens = b" ".join(rows).split()
    if len(tokens) != n * width:
        raise ValueError("column count")
    table = np.array(tokens, dtype=object).reshape(n, width) if n else np.empty((0, width), object)
    symbols = [t.decode() for t in table[:, 0]]
    values = np.array(table[:, 1:], dtype=float).reshape(n, width - 1)
    arrays, k = {}, 0
    for name, w in columns:
        arrays[name] = values[:, k] if w == 1 else values[:, k:k + w]
        k += w
    info = dict(header.info)
    lattice = info.pop("Lattice", None)
    pbc = info.pop("pbc", lattice is not None)
    info.pop("Properties")
    cell = None if lattice is None else np.array(lattice, dtype=float).reshape(3, 3)
    atoms = Atoms(symbols, positions=arrays.pop("pos"), cell=cell, pbc=pbc)
    results = {}
    for key in ("energy", "free_energy"):
        if key in info:
            results[key] = float(info.pop(key))
    if "forces" in arrays:
        results["forces"] = arrays.pop("forces")
    if "energies" in arrays:
        results["energies"] = arrays.pop("energies")
    for name, a in arrays.items():
        atoms.arrays[name] = np.ascontiguousarray(a)
    atoms.info.update(info)
    if results:
        atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms
