"""The oracle: any ASE calculator named by import path, labelling frames with energy
(eV), forces (eV/A) and, for cells periodic in all three directions, stress (eV/A^3, ASE
sign and Voigt order).

A failure of the oracle on one frame (an exception, a non-finite number) is returned as
a LabelFailure, not raised: one bad DFT run must not end a loop of hundreds.
"""
import importlib
from dataclasses import dataclass
from typing import Optional

import numpy as np
from ase.calculators.singlepoint import SinglePointCalculator

from ace_lin.fit.config import ConfigError


class OracleError(ConfigError):
    """The oracle named in the configuration cannot be imported or constructed."""


@dataclass
class LabelFailure:
    message: str


def load_oracle_factory(path: str, kwargs: Optional[dict] = None):
    """A function returning a new calculator instance: `module.Class(**kwargs)`."""
    if not isinstance(path, str) or "." not in path:
        raise OracleError(f"oracle.calculator: expected an import path like "
                          f"'ase.calculators.emt.EMT', got {path!r}")
    module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise OracleError(f"oracle.calculator: cannot import module '{module_name}' ({exc})") from None
    cls = getattr(module, attr, None)
    if cls is None or not callable(cls):
        raise OracleError(f"oracle.calculator: '{module_name}' has no calculator '{attr}'")
    kwargs = dict(kwargs or {})

    def make():
        try:
            return cls(**kwargs)
        except Exception as exc:  # a constructor error is a configuration error
            raise OracleError(f"oracle: {path}(**{kwargs}) failed: {type(exc).__name__}: {exc}") from None

    make()  # fail now, not after the first exploration
    return make


def label(atoms, make_calculator):
    """A copy of `atoms` carrying the oracle's results in a SinglePointCalculator, or a
    LabelFailure with the reason."""
    work = atoms.copy()
    work.set_constraint()  # the oracle's raw forces: an MD constraint must not alter them
    work.calc = make_calculator()
    periodic = bool(np.all(work.pbc)) and work.cell.rank == 3
    try:
        energy = float(work.get_potential_energy())
        forces = np.array(work.get_forces(), dtype=float)
        stress = np.array(work.get_stress(voigt=True), dtype=float) if periodic else None
    except Exception as exc:  # noqa: BLE001 - any failure of an external code is data
        return LabelFailure(f"{type(exc).__name__}: {exc}".strip()[:500])
    finite = np.isfinite(energy) and np.all(np.isfinite(forces)) and (
        stress is None or np.all(np.isfinite(stress)))
    if not finite:
        return LabelFailure("the oracle returned NaN or Inf")
    if forces.shape != (len(work), 3):
        return LabelFailure(f"the oracle returned forces of shape {forces.shape}")
    out = atoms.copy()
    out.set_constraint()
    out.calc = SinglePointCalculator(out, energy=energy, forces=forces,
                                     **({"stress": stress} if stress is not None else {}))
    return out
