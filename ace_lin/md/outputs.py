"""The output folder of an MD run, the same for both engines.

trajectory.extxyz: one extended-XYZ frame per `stride` steps (the stage's) with per-atom columns
    species, pos (A), velocities (A/fs), forces (eV/A), energies (eV per atom) and frame
    info step, time_fs, energy (potential, eV), ekin_eV, temperature_K, pressure_GPa
    (and max_gamma on graded frames). ase.io.read gives energy, forces and
    per-atom energies through its calculator, velocities as atoms.arrays["velocities"].
thermo.csv: step,time_fs,temperature_K,epot_eV,ekin_eV,etot_eV,pressure_GPa[,max_gamma]
    (max_gamma nan on frames the run did not grade: the configuration's grade_every)
candidates.extxyz: the graded frames whose max_gamma exceeds grade_threshold.

Temperature is 2 E_kin / ((3N - 3) k_B) (the centre of mass is fixed); the pressure is the
virial plus kinetic pressure (LAMMPS's `press`), NaN for a cell not periodic in 3D.
Every frame or row is appended with one write() on a file opened for appending, so a
killed run leaves whole frames plus at most one partial one; a resume truncates every
file to the byte length the checkpoint recorded (see ace_lin.md.checkpoint).
"""
import os

import numpy as np

from ace_lin.md._rows import format_rows
from ace_lin.md.checkpoint import CheckpointError

TRAJECTORY = "trajectory.extxyz"
THERMO = "thermo.csv"
CANDIDATES = "candidates.extxyz"
PLOT = "thermo.png"
THERMO_COLUMNS = ("step", "time_fs", "temperature_K", "epot_eV", "ekin_eV", "etot_eV",
                  "pressure_GPa")
GRADE_COLUMN = "max_gamma"


FLOAT = "%.12g"  # every number of the outputs (ace_lin.md._rows writes the per-atom rows so)


def _g(x) -> str:
    return FLOAT % x


def format_frame(symbols, cell, pbc, positions, velocities, forces, energies, info) -> str:
    """One extended-XYZ frame. velocities in A/fs; info: ordered (key, value) pairs."""
    head = ['Lattice="%s"' % " ".join(_g(v) for v in np.asarray(cell).ravel()),
            "Properties=species:S:1:pos:R:3:velocities:R:3:forces:R:3:energies:R:1"]
    head += [f"{k}={v}" if isinstance(v, (int, np.integer)) else f"{k}={_g(v)}"
             for k, v in info]
    head.append('pbc="%s"' % " ".join("T" if p else "F" for p in pbc))
    rows = np.column_stack([positions, velocities, forces, energies])
    return f"{len(symbols)}\n{' '.join(head)}\n" + format_rows(symbols, rows)  # FLOAT's text


def frame_info(step, time_fs, epot, ekin, temperature, pressure, max_gamma=None):
    info = [("step", int(step)), ("time_fs", float(time_fs)), ("energy", float(epot)),
            ("ekin_eV", float(ekin)), ("temperature_K", float(temperature)),
            ("pressure_GPa", float(pressure))]
    if max_gamma is not None:
        info.append(("max_gamma", float(max_gamma)))
    return info


def thermo_header(with_grade: bool) -> str:
    return ",".join(THERMO_COLUMNS + ((GRADE_COLUMN,) if with_grade else ())) + "\n"


def thermo_row(step, time_fs, temperature, epot, ekin, pressure, max_gamma=None,
               grade_column=False) -> str:
    """One row; with grade_column, a frame not graded (max_gamma None) has nan there."""
    vals = [str(int(step)), _g(time_fs), _g(temperature), _g(epot), _g(ekin), _g(epot + ekin),
            _g(pressure)]
    if grade_column or max_gamma is not None:
        vals.append("nan" if max_gamma is None else _g(max_gamma))
    return ",".join(vals) + "\n"


def append(path: str, text: str):
    """Append text with one write() call (a frame is never interleaved or half-buffered)."""
    data = text.encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        n = os.write(fd, data)
        while n < len(data):  # regular files write everything; this is for odd filesystems
            n += os.write(fd, data[n:])
    finally:
        os.close(fd)


def truncate(path: str, size: int):
    """Cut path to size bytes (drop what a killed run wrote after its last checkpoint)."""
    if os.path.exists(path):
        if os.path.getsize(path) < size:
            raise CheckpointError(f"{path} is shorter than the checkpoint says ({os.path.getsize(path)} "
                               f"< {size} bytes): the output folder was changed by hand")
        with open(path, "r+b") as fh:
            fh.truncate(size)
    elif size:
        raise CheckpointError(f"{path} is missing but the checkpoint says it held {size} bytes")


def file_sizes(folder, names) -> dict:
    return {n: (os.path.getsize(os.path.join(folder, n))
                if os.path.exists(os.path.join(folder, n)) else 0) for n in names}


def read_thermo(path) -> dict:
    """thermo.csv as a dict of column -> array."""
    with open(path) as fh:
        names = fh.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return {n: data[:, k] for k, n in enumerate(names)}
