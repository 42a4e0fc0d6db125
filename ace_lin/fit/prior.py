"""Smoothness prior: a diagonal regularization that grows with each basis function's degree.

The penalty on the (column-scaled) coefficients w is lambda * sum_j gamma_j^2 w_j^2 with
    algebraic    gamma_j = ridge + (d_j / d_ref)^p
    exponential  gamma_j = ridge + exp(d_j / d_ref) - 1
    none         gamma_j = ridge                     (plain ridge)
where d_j is the total degree sum_k (n_k + w_l l_k) of function j (basis.degree). High
degrees mean fast radial or angular oscillation; penalizing them more makes the fitted
potential smooth, which is what keeps a linear ACE stable outside its training data.
`ridge` is the plain ridge part every coefficient gets (also the fitted E0 columns, which
have degree 0). Only the shape matters for evidence-based solvers (BLR chooses the overall
strength); for fixed-lambda ridge the solver's lambda sets the strength. The exponent p
is a number here; a fit whose configuration says `p: auto` (the default) chooses it by
evidence first (fit/prior_search.py).
"""
from dataclasses import dataclass

import numpy as np

PRIOR_KINDS = ("algebraic", "exponential", "none")


@dataclass(frozen=True)
class SmoothnessPrior:
    """kind: algebraic | exponential | none; p: exponent (algebraic, 2..4 typical);
    d_ref: degree scale (1 = raw degree); ridge: constant part of every gamma_j."""
    kind: str = "algebraic"
    p: float = 3.0
    d_ref: float = 1.0
    ridge: float = 1.0

    def __post_init__(self):
        if self.kind not in PRIOR_KINDS:
            raise ValueError(f"prior kind must be one of {list(PRIOR_KINDS)}, got {self.kind!r}")
        if not float(self.d_ref) > 0:
            raise ValueError("prior d_ref must be > 0")
        if float(self.p) < 0:
            raise ValueError("prior p must be >= 0")
        if float(self.ridge) < 0:
            raise ValueError("prior ridge must be >= 0")
        if self.kind == "none" and float(self.ridge) == 0:
            raise ValueError("prior kind 'none' needs ridge > 0")

    def gamma(self, degree: np.ndarray) -> np.ndarray:
        """gamma_j for the given degrees (float array, degree >= 0)."""
        d = np.asarray(degree, dtype=float) / float(self.d_ref)
        if np.any(d < 0):
            raise ValueError("degrees must be >= 0")
        if self.kind == "algebraic":
            g = float(self.ridge) + d ** float(self.p)
        elif self.kind == "exponential":
            g = float(self.ridge) + np.expm1(d)
        else:
            g = np.full(d.shape, float(self.ridge))
        if np.any(g <= 0):
            # degree-0 columns with ridge 0 would be unregularized: forbid, it breaks BLR
            raise ValueError("prior gives gamma = 0 for degree-0 columns; use ridge > 0")
        return g

    def to_dict(self) -> dict:
        return {"kind": self.kind, "p": float(self.p), "d_ref": float(self.d_ref),
                "ridge": float(self.ridge)}
