"""Reading the LAMMPS engine's dump (lammps/dump.bin, binary; lammps/dump.lammpstrj, text,
in runs begun before the binary dump) and its grade log into the common outputs.

Each dump frame becomes one trajectory.extxyz frame and one thermo.csv row, rotated back
from LAMMPS's lower-triangular orientation to the cell of the ASE structure, with
velocities converted from A/ps to A/fs. epot = sum of per-atom energies (eV), ekin =
sum m v^2 / 2, temperature = 2 ekin / ((3N - 3) k_B), pressure = sum of the per-atom
-trace(stress)/3 (bar*A^3, kinetic part included) over the volume, in GPa. A frame cut
short by a killed run is ignored; a repeated step keeps its last copy.
"""
import os
import struct

import numpy as np
from ase import units

from ace_lin.md import outputs as out
from ace_lin.md.lammps_input import BAR_PER_GPA

# ASE mass unit * (A/fs)^2 in eV: E = 0.5 m v^2 with m in amu and v in A/fs
AMU_A2_PER_FS2_IN_EV = 1.0 / units.fs ** 2


def _box(lines):
    """Lower-triangular cell from the three 'ITEM: BOX BOUNDS xy xz yz' lines (or the same
    numbers as rows: lo, hi[, tilt])."""
    v = [list(map(float, ln.split())) if isinstance(ln, str) else list(ln) for ln in lines]
    tilt = [row[2] if len(row) > 2 else 0.0 for row in v]
    xy, xz, yz = tilt
    xlo = v[0][0] - min(0.0, xy, xz, xy + xz)
    xhi = v[0][1] - max(0.0, xy, xz, xy + xz)
    ylo = v[1][0] - min(0.0, yz)
    yhi = v[1][1] - max(0.0, yz)
    return np.array([[xhi - xlo, 0, 0], [xy, yhi - ylo, 0], [xz, yz, v[2][1] - v[2][0]]])


def iter_dump(path, start_offset=0, parse=True):
    """Yield (step, cell, columns dict, byte offset of the frame's end) for each complete
    frame from byte start_offset on (parse=False: cell and columns None). A path ending in
    .bin is LAMMPS's binary dump (iter_binary_dump), any other its text dump."""
    if path.endswith(".bin"):
        yield from iter_binary_dump(path, start_offset, parse)
        return
    with open(path, "rb") as fh:
        fh.seek(start_offset)
        while True:
            head = [fh.readline() for _ in range(9)]
            if not head[-1].endswith(b"\n") or not head[0].startswith(b"ITEM: TIMESTEP"):
                return
            step = int(head[1])
            n = int(head[3])
            rows = [fh.readline() for _ in range(n)]
            if n and not rows[-1].endswith(b"\n"):
                return  # cut short by a killed run
            if not parse:
                yield step, None, None, fh.tell()
                continue
            cell = _box([h.decode() for h in head[5:8]])
            names = head[8].decode().split()[2:]
            data = np.array(b"".join(rows).split(), dtype=float).reshape(n, len(names))
            yield step, cell, {c: data[:, k] for k, c in enumerate(names)}, fh.tell()


class _Cut(Exception):
    """The file ends inside a frame (a killed run)."""


def _take(fh, fmt):
    size = struct.calcsize(fmt)
    raw = fh.read(size)
    if len(raw) < size:
        raise _Cut
    return struct.unpack(fmt, raw)


def _binary_frame(fh, parse):
    """(step, cell, columns or None) of the binary frame at fh's position; raises _Cut at a
    partial frame, EOFError at the end of the file. The layout is DumpCustom's
    header_binary*: a negative length and a format string, endianness and revision, then
    step, atom count, triclinic flag, boundaries, box bounds (+ tilts), fields per atom,
    units and time (optional), the column names, and per writing rank a count and doubles."""
    head = fh.read(8)
    if not head:
        raise EOFError
    if len(head) < 8:
        raise _Cut
    (marker,) = struct.unpack("<q", head)
    if marker >= 0:
        raise ValueError("not a dump of a LAMMPS version since 2021 (no format string)")
    fh.read(-marker)
    _endian, _revision = _take(fh, "<ii")
    step, n_atoms, triclinic = _take(fh, "<qqi")
    if triclinic == 2:
        raise ValueError("a general triclinic dump; the engine writes restricted triclinic")
    _take(fh, "<6i")
    bounds = _take(fh, "<9d" if triclinic else "<6d")
    (n_fields,) = _take(fh, "<i")
    (n_units,) = _take(fh, "<i")
    fh.read(n_units)
    (has_time,) = _take(fh, "<b")
    if has_time:
        _take(fh, "<d")
    (n_names,) = _take(fh, "<i")
    names = fh.read(n_names).decode().split()
    (n_chunks,) = _take(fh, "<i")
    chunks = []
    for _ in range(n_chunks):
        (n,) = _take(fh, "<i")
        if parse:
            raw = fh.read(8 * n)
            if len(raw) < 8 * n:
                raise _Cut
            chunks.append(np.frombuffer(raw, dtype="<f8"))
        else:
            fh.seek(8 * n, os.SEEK_CUR)
    if not parse:
        return step, None, None
    data = np.concatenate(chunks) if chunks else np.zeros(0)
    if len(names) != n_fields or data.size != n_atoms * n_fields:
        raise ValueError(f"dump step {step}: {data.size} values for {n_atoms} atoms x "
                         f"{n_fields} fields ({' '.join(names)})")
    data = data.reshape(n_atoms, n_fields)
    lo, hi = bounds[0:6:2], bounds[1:6:2]
    tilt = bounds[6:9] if triclinic else (0.0, 0.0, 0.0)
    cell = _box([[lo[0], hi[0], tilt[0]], [lo[1], hi[1], tilt[1]], [lo[2], hi[2], tilt[2]]])
    return step, cell, {c: data[:, k] for k, c in enumerate(names)}


def iter_binary_dump(path, start_offset=0, parse=True):
    """iter_dump for LAMMPS's binary dump (`dump custom` to a file named *.bin): full
    doubles, and no number formatting in the MD loop (benchmarks/RESULTS.md, "Cost of
    writing frames")."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        fh.seek(start_offset)
        while True:
            try:
                step, cell, cols = _binary_frame(fh, parse)
            except (EOFError, _Cut):
                return
            if fh.tell() > size:  # a seek past the end: the frame was cut short
                return
            yield step, cell, cols, fh.tell()


def read_grades(path) -> dict:
    """step -> max_gamma from the lines "step value" that `fix print` appends (comment
    lines and a line cut short by a killed run are skipped; a step printed again, by a
    resumed segment's set-up, keeps its last value)."""
    grades = {}
    try:
        with open(path, "rb") as fh:
            lines = fh.read().split(b"\n")
    except FileNotFoundError:
        return grades
    for ln in lines[:-1]:  # the part after the last newline is not a whole line
        parts = ln.split()
        if len(parts) != 2 or ln.startswith(b"#"):
            continue
        try:
            grades[int(parts[0])] = float(parts[1])
        except ValueError:
            continue
    return grades


def convert_frame(step, cell_lmp, cols, lframe, symbols, masses, pbc, dt_fs, gamma,
                  grade_column):
    """(extxyz frame text, thermo row) of one dump frame; gamma: its max grade or None
    (not graded); grade_column: whether thermo.csv has the max_gamma column."""
    if not np.array_equal(cols["id"], np.arange(1, len(symbols) + 1)):
        raise ValueError(f"dump step {step}: atom IDs are not 1..N in order")
    pos = lframe.from_lammps(np.column_stack([cols["xu"], cols["yu"], cols["zu"]]))
    vel = lframe.from_lammps(np.column_stack([cols["vx"], cols["vy"], cols["vz"]])) / 1000.0
    forces = lframe.from_lammps(np.column_stack([cols["fx"], cols["fy"], cols["fz"]]))
    cell = lframe.from_lammps(cell_lmp)
    energies = cols["c_pe_atom"]
    epot = float(energies.sum())
    ekin = float(0.5 * np.sum(masses[:, None] * vel * vel) * AMU_A2_PER_FS2_IN_EV)
    n = len(symbols)
    temp = 2.0 * ekin / ((3 * n - 3 if n > 1 else 3) * units.kB)
    volume = abs(np.linalg.det(cell_lmp))
    pressure = float(cols["v_p_atom"].sum() / volume / BAR_PER_GPA)
    t_fs = step * dt_fs
    frame = out.format_frame(symbols, cell, pbc, pos, vel, forces, energies,
                             out.frame_info(step, t_fs, epot, ekin, temp, pressure, gamma))
    return frame, out.thermo_row(step, t_fs, temp, epot, ekin, pressure, gamma, grade_column)
