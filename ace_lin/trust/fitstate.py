"""The fit state kept beside a model (`<stem>.fitstate.npz`) so that new data can be
folded in later without reassembling the old: the triangular factor of the weighted
system (R, Q^T W y, n_rows, rss0; fit/assemble.py), the prior of every column, the
hyper-parameters of the fit, and the active sets (grade maps and active rows) per element.
Written atomically (tmp + os.replace); numpy only, no pickles.
"""
import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np

from ace_lin.trust.activeset import ElementActiveSet

KIND = "ace_lin-fitstate"
VERSION = 1


class FitStateError(ValueError):
    """A fit-state file is missing, corrupted or does not belong to the model."""


@dataclass(eq=False)
class FitState:
    """R [p, p] upper triangular, qty [p], n_rows, rss0 of W A = Q R (columns: the basis,
    then the fitted E0s of e0_elements); gamma [p] and unpenalized [p] the prior of the
    columns; hyper: alpha, beta, lam, the prior settings, the solver kind (plain numbers);
    spec_hash identifies the basis; active_set {element: ElementActiveSet}."""
    R: np.ndarray
    qty: np.ndarray
    n_rows: int
    rss0: float
    n_basis: int
    e0_elements: List[str]
    gamma: np.ndarray
    unpenalized: np.ndarray
    spec_hash: str
    hyper: dict = field(default_factory=dict)
    active_set: Dict[str, ElementActiveSet] = field(default_factory=dict)


def fitstate_path(model_path: str) -> str:
    model_path = os.fspath(model_path)
    stem = model_path[:-5] if model_path.endswith(".json") else model_path
    return stem + ".fitstate.npz"


def write_fitstate(path, state: FitState) -> None:
    from ace_lin.io.atomic import atomic_write

    arrays = {"R": state.R, "qty": state.qty, "gamma": state.gamma,
              "unpenalized": state.unpenalized.astype(bool)}
    meta = {"kind": KIND, "version": VERSION, "n_rows": int(state.n_rows),
            "rss0": float(state.rss0), "n_basis": int(state.n_basis),
            "e0_elements": list(state.e0_elements), "spec_hash": state.spec_hash,
            "hyper": state.hyper, "elements": list(state.active_set)}
    for el, a in state.active_set.items():
        arrays[f"as_{el}_columns"] = a.columns
        arrays[f"as_{el}_G"] = a.G
        arrays[f"as_{el}_rows"] = a.rows
        arrays[f"as_{el}_real"] = a.real
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write(os.fspath(path), buf.getvalue(), "fit state")


def read_fitstate(path, spec_hash=None) -> FitState:
    """Read a fit state; with spec_hash, refuse one that belongs to another basis."""
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise FitStateError(f"{path}: fit state not found") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # not a zip / truncated
        raise FitStateError(f"{path}: not a readable fit state ({exc})") from None
    try:
        meta = json.loads(bytes(data["meta"]).decode())
        if meta.get("kind") != KIND or meta.get("version") != VERSION:
            raise FitStateError(f"{path}: not an ace_lin fit state (version {VERSION})")
        if spec_hash is not None and meta["spec_hash"] != spec_hash:
            raise FitStateError(f"{path}: the fit state belongs to another basis than the model")
        aset = {el: ElementActiveSet(el, data[f"as_{el}_columns"], data[f"as_{el}_G"],
                                     data[f"as_{el}_rows"], data[f"as_{el}_real"].astype(bool))
                for el in meta["elements"]}
        p = data["R"].shape[0]
        state = FitState(R=data["R"], qty=data["qty"], n_rows=int(meta["n_rows"]),
                         rss0=float(meta["rss0"]), n_basis=int(meta["n_basis"]),
                         e0_elements=list(meta["e0_elements"]), gamma=data["gamma"],
                         unpenalized=data["unpenalized"].astype(bool),
                         spec_hash=meta["spec_hash"], hyper=meta["hyper"], active_set=aset)
    except (KeyError, TypeError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FitStateError(f"{path}: incomplete fit state (missing {exc})") from None
    if state.R.shape != (p, p) or state.qty.shape != (p,) or state.gamma.shape != (p,) \
            or p != state.n_basis + len(state.e0_elements):
        raise FitStateError(f"{path}: inconsistent array shapes")
    return state
