"""Row weights of the least-squares fit.

Each configuration with N atoms, volume V contributes (residual = target - model):
    1 energy row   (E/N, eV/atom)         weight  w_E * sqrt(N)
    3N force rows  (F, eV/A)              weight  w_F
    6 stress rows  (stress, eV/A^3)       weight  w_S * (V/N) * sqrt(N)   (periodic, stress given)
each further multiplied by the configuration's own weight and its config_type multiplier.

Why these factors:
- sqrt(N) on the energy row: a configuration has one energy row but 3N force rows; with
  the per-atom energy residual weighted by sqrt(N), a configuration's energy and force
  contributions to the loss both grow like N, so their balance does not change with the
  cell size. This equals ACEpotentials' choice (total energy E weighted by w_E/sqrt(N)),
  so its defaults E 30, F 1 carry over.
- (V/N) * sqrt(N) on the stress rows: (V/N) * stress is the virial per atom in eV, so a
  stress residual enters like a per-atom energy; the sqrt(N) as for energies. This equals
  ACEpotentials' virial weight w_V/sqrt(N) on the virial V*stress (eV). Without the V/N
  factor a stress row (typical residual 1e-3 eV/A^3 = 0.16 GPa) would be ~20-50x smaller
  than a force residual and stresses would be ignored; with it, a 0.2 GPa stress error in
  Si (20 A^3/atom) becomes 0.025 eV, the size of a good force residual (eV/A).

Defaults w_E = 30, w_F = 1, w_S = 1 (ACEpotentials). A config_type multiplier is either
one number (all rows of that group) or {energy, forces, stress} (missing ones are 1).
"""
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Union

import numpy as np

DEFAULT_ENERGY_WEIGHT = 30.0
DEFAULT_FORCE_WEIGHT = 1.0
DEFAULT_STRESS_WEIGHT = 1.0

_KINDS = ("energy", "forces", "stress")


@dataclass(frozen=True)
class GroupWeight:
    """Multipliers of the energy, force and stress weights for one config_type."""
    energy: float = 1.0
    forces: float = 1.0
    stress: float = 1.0

    @classmethod
    def from_value(cls, value: Union[float, Mapping[str, float]], name: str) -> "GroupWeight":
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - set(_KINDS))
            if unknown:
                raise ValueError(f"config_type {name!r}: unknown weight key(s) {unknown}; "
                                 f"allowed: {list(_KINDS)}")
            g = cls(**{k: float(v) for k, v in value.items()})
        else:
            v = float(value)
            g = cls(v, v, v)
        for k in _KINDS:
            if not np.isfinite(getattr(g, k)) or getattr(g, k) < 0:
                raise ValueError(f"config_type {name!r}: {k} weight must be >= 0")
        return g

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in _KINDS}


@dataclass(frozen=True)
class WeightSettings:
    """Global weights and per-config_type multipliers (see module docstring)."""
    energy: float = DEFAULT_ENERGY_WEIGHT
    forces: float = DEFAULT_FORCE_WEIGHT
    stress: float = DEFAULT_STRESS_WEIGHT
    config_types: Dict[str, GroupWeight] = field(default_factory=dict)

    def __post_init__(self):
        for k in _KINDS:
            v = float(getattr(self, k))
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"weights: {k} must be a number >= 0, got {v}")
            object.__setattr__(self, k, v)
        groups = {str(name): (g if isinstance(g, GroupWeight) else GroupWeight.from_value(g, name))
                  for name, g in dict(self.config_types).items()}
        object.__setattr__(self, "config_types", groups)

    def group(self, config_type: str) -> GroupWeight:
        return self.config_types.get(config_type, GroupWeight())

    def to_dict(self) -> dict:
        return {"energy": self.energy, "forces": self.forces, "stress": self.stress,
                "config_types": {k: g.to_dict() for k, g in sorted(self.config_types.items())},
                "convention": "E/N row weight w_E*sqrt(N); F weight w_F; "
                              "stress row (eV/A^3) weight w_S*(V/N)*sqrt(N)"}


@dataclass(frozen=True)
class RowWeights:
    """Weights of one configuration's rows: energy (scalar), forces (scalar for all 3N
    rows), stress (scalar for the 6 rows, 0 when the configuration has no stress)."""
    energy: float
    forces: float
    stress: float


def config_row_weights(settings: WeightSettings, n_atoms: int, volume: Optional[float],
                       config_type: str, config_weight: float = 1.0,
                       has_stress: bool = False) -> RowWeights:
    """Row weights of one configuration (volume in A^3, None if not periodic)."""
    g = settings.group(config_type)
    sqrt_n = np.sqrt(n_atoms)
    w_e = settings.energy * g.energy * config_weight * sqrt_n
    w_f = settings.forces * g.forces * config_weight
    if has_stress and volume is not None and volume > 0:
        w_s = settings.stress * g.stress * config_weight * (volume / n_atoms) * sqrt_n
    else:
        w_s = 0.0
    return RowWeights(float(w_e), float(w_f), float(w_s))
