"""Checkpoints of an MD run: one JSON file, written atomically (tmp + fsync + os.replace).

A checkpoint holds the step, the stage and the step inside it, the dynamical state
(positions A, momenta in ASE units amu*A/ASE-time, cell, pbc), the random generator's
state, the thermostat's own variables, the byte length of every output file at that step
and the configuration's fingerprint (a resume with other physics is refused). Floats are
stored by repr, so the state round-trips bit for bit.
"""
import json

import numpy as np

from ace_lin.io.atomic import atomic_write

CHECKPOINT_VERSION = 2
CHECKPOINT = "checkpoint.json"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used (unreadable, other configuration)."""


def _plain(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.floating, np.integer, np.bool_)):
        return x.item()
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def save_checkpoint(path: str, state: dict):
    atomic_write(path, json.dumps(_plain(dict(state, checkpoint_version=CHECKPOINT_VERSION))))


def load_checkpoint(path: str, fingerprints) -> dict:
    """The checkpoint's state, refused unless its fingerprint is one of fingerprints (a
    string or the sequence MDConfig.fingerprints(): current first); the state's
    fingerprint becomes the current one."""
    if isinstance(fingerprints, str):
        fingerprints = (fingerprints,)
    try:
        with open(path) as fh:
            state = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint ({exc})") from None
    if state.get("checkpoint_version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint version {state.get('checkpoint_version')} "
                              f"is not {CHECKPOINT_VERSION}; use a new output folder")
    if state.get("fingerprint") not in fingerprints:
        raise CheckpointError(f"{path}: this output folder belongs to a run with another "
                              "configuration (model, structure, stages, timestep, seed or "
                              "stride differ); use a new output folder")
    state["fingerprint"] = fingerprints[0]
    return state
