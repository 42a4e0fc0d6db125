"""Restart files for MD: written atomically, so a crash never leaves a half-written one.

The checkpoint records the dynamical state (positions A, momenta amu*A/fs-units of ASE,
cell, step), the state of the random generator (thermostat noise) and the byte length of
the trajectory file after the last complete frame; a restart truncates the trajectory
there, so frames written after the checkpoint by a crashed run are dropped, not doubled.
"""
import json
import os

import numpy as np

CHECKPOINT_VERSION = 1


def write_atomic(path: str, text: str):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def save_checkpoint(path, atoms, step, rng, traj_bytes, settings):
    state = {
        "checkpoint_version": CHECKPOINT_VERSION,
        "units": {"positions": "Angstrom", "momenta": "ASE units (amu*Angstrom/ASE-time)"},
        "step": int(step),
        "symbols": atoms.get_chemical_symbols(),
        "positions": atoms.get_positions().tolist(),
        "momenta": atoms.get_momenta().tolist(),
        "cell": atoms.cell.array.tolist(),
        "pbc": [bool(p) for p in atoms.pbc],
        "rng_state": rng.bit_generator.state,
        "trajectory_bytes": int(traj_bytes),
        "settings": settings,
    }
    write_atomic(path, json.dumps(state))


def load_checkpoint(path):
    with open(path) as fh:
        try:
            state = json.load(fh)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: checkpoint is not valid JSON ({exc})") from None
    if state.get("checkpoint_version", 0) > CHECKPOINT_VERSION:
        raise ValueError(f"{path}: checkpoint written by a newer ace_lin")
    for key in ("step", "symbols", "positions", "momenta", "cell", "pbc", "rng_state", "trajectory_bytes"):
        if key not in state:
            raise ValueError(f"{path}: checkpoint lacks '{key}'")
    state["positions"] = np.array(state["positions"])
    state["momenta"] = np.array(state["momenta"])
    state["cell"] = np.array(state["cell"])
    return state
