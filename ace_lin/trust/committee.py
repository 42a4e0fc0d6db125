"""The Bayesian posterior of the coefficients and committees drawn from it.

The fit's BLR posterior is Gaussian: (coefficients, fitted E0s) ~ N(mean, L L^T) in eV,
L lower triangular (fit/solvers.py, BLRSolver.posterior). A committee of K members is
drawn with a seed and centred (the members' mean is the posterior mean, so the committee
mean prediction is the model's prediction; the spread is rescaled by sqrt(K / (K - 1)) so
that the members' sample covariance stays an unbiased estimate of L L^T). Energies and
forces are linear in the coefficients, so the members' predictions are the design rows
(ace_lin.evaluate.design_rows) times the members' deviations: one design call, not K
force calls. The spread is the model's (epistemic) uncertainty.

The predictive uncertainty of a new DFT value adds the fit's noise: BLR models every
weighted row's residual as N(0, 1/beta), so an unweighted quantity has noise std
1/(sqrt(beta) * row weight) (fit/weights.py): forces 1/(sqrt(beta) w_F) eV/A, a total
energy of N atoms sqrt(N)/(sqrt(beta) w_E) eV, a stress component
sqrt(N)/(sqrt(beta) w_S V) eV/A^3. NoiseModel keeps beta and the global weights
(config_type multipliers are not applied: a new structure has no config_type).
benchmarks/trust_mlearn_si.py measures the calibration of both spreads.
"""
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

DEFAULT_MEMBERS = 32


@dataclass(frozen=True)
class NoiseModel:
    """The fit's noise precision beta (1 / weighted residual^2) and row weights."""
    beta: float
    energy_weight: float
    forces_weight: float
    stress_weight: float

    def __post_init__(self):
        for k in ("beta", "energy_weight", "forces_weight", "stress_weight"):
            v = float(getattr(self, k))
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"posterior.noise.{k} must be a finite number > 0, got {v}")
            object.__setattr__(self, k, v)

    def energy_std(self, n_atoms: int) -> float:
        """Noise std of a total energy of n_atoms atoms (eV)."""
        return float(np.sqrt(n_atoms / self.beta) / self.energy_weight)

    def forces_std(self) -> float:
        """Noise std of one force component (eV/A)."""
        return float(1.0 / (np.sqrt(self.beta) * self.forces_weight))

    def stress_std(self, n_atoms: int, volume: float) -> float:
        """Noise std of one stress component (eV/A^3) of a cell of volume A^3."""
        return float(np.sqrt(n_atoms / self.beta) / (self.stress_weight * volume))

    def to_document(self) -> dict:
        return {"beta": self.beta, "energy_weight": self.energy_weight,
                "forces_weight": self.forces_weight, "stress_weight": self.stress_weight}


@dataclass(frozen=True, eq=False)
class Posterior:
    """mean [n] and lower-triangular factor [n, n] of the covariance (eV) of the columns
    (the n_basis coefficients, then the fitted E0s of e0_elements, in that order)."""
    mean: np.ndarray
    factor: np.ndarray
    e0_elements: List[str]
    noise: Optional[NoiseModel] = None

    def __post_init__(self):
        mean = np.array(self.mean, dtype=float).reshape(-1)
        L = np.array(self.factor, dtype=float)
        n = mean.size
        if L.shape != (n, n):
            raise ValueError(f"posterior factor must be [{n}, {n}], got {L.shape}")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(L))):
            raise ValueError("posterior contains NaN or Inf")
        if np.any(np.triu(L, 1)):
            raise ValueError("posterior factor must be lower triangular")
        if len(set(self.e0_elements)) != len(self.e0_elements):
            raise ValueError(f"posterior e0_elements repeat: {self.e0_elements}")
        if len(self.e0_elements) > n:
            raise ValueError("posterior has more E0 columns than columns")
        for a in (mean, L):
            a.setflags(write=False)
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "factor", L)
        object.__setattr__(self, "e0_elements", [str(e) for e in self.e0_elements])

    @property
    def n(self) -> int:
        return self.mean.size

    @property
    def n_basis(self) -> int:
        return self.n - len(self.e0_elements)

    def covariance(self) -> np.ndarray:
        return self.factor @ self.factor.T

    def std(self) -> np.ndarray:
        """[n] marginal standard deviations of the columns (eV)."""
        return np.sqrt(np.einsum("ij,ij->i", self.factor, self.factor))

    def deviations(self, n_members: int, seed: int = 0) -> np.ndarray:
        """[K, n] centred draws minus the mean (K = n_members >= 2), reproducible by seed."""
        k = int(n_members)
        if k < 2:
            raise ValueError(f"a committee needs at least 2 members, got {n_members}")
        xi = np.random.default_rng(seed).standard_normal((k, self.n))
        xi -= xi.mean(axis=0)
        xi *= np.sqrt(k / (k - 1))
        return xi @ self.factor.T

    def members(self, n_members: int, seed: int = 0) -> np.ndarray:
        """[K, n] committee coefficients (mean + centred draws)."""
        return self.mean + self.deviations(n_members, seed)

    # -- model file (format_version 3, "posterior") ------------------------------------
    def to_document(self) -> dict:
        rows, cols = np.tril_indices(self.n)
        doc = {"n": self.n, "columns": self.n, "e0_elements": list(self.e0_elements),
               "mean": self.mean, "cov_factor": self.factor[rows, cols]}
        if self.noise is not None:
            doc["noise"] = self.noise.to_document()
        return doc

    @classmethod
    def from_document(cls, doc) -> "Posterior":
        n = int(doc["n"])
        packed = np.asarray(doc["cov_factor"], dtype=float)
        if packed.size != n * (n + 1) // 2:
            raise ValueError(f"posterior.cov_factor: expected n(n+1)/2 = {n * (n + 1) // 2} "
                             f"entries, got {packed.size}")
        L = np.zeros((n, n))
        L[np.tril_indices(n)] = packed
        noise = doc.get("noise")
        return cls(mean=doc["mean"], factor=L, e0_elements=list(doc["e0_elements"]),
                   noise=None if noise is None else NoiseModel(**noise))


def lower_factor(F) -> np.ndarray:
    """Lower-triangular L [p, p] with L L^T = F F^T for any F [p, k] (QR of F^T)."""
    F = np.asarray(F, dtype=float)
    p, k = F.shape
    if k == 0:
        return np.zeros((p, p))
    import scipy.linalg

    Rr = scipy.linalg.qr(F.T, mode="r", check_finite=False)[0][:min(k, p)]
    L = np.zeros((p, p))
    L[:, :Rr.shape[0]] = Rr.T
    return L


def committee_spread(deviations, energy_row, force_rows, e0_counts=None):
    """(energy std eV, forces std [N, 3] eV/A) of a committee with coefficient deviations
    [K, n] for a structure with energy design row [n_basis], force rows [N, 3, n_basis]
    and, for the fitted E0 columns, the atom counts of their elements."""
    D = np.asarray(deviations)
    k = D.shape[0]
    nb = energy_row.size
    de = D[:, :nb] @ energy_row
    if D.shape[1] > nb:
        de = de + D[:, nb:] @ np.asarray(e0_counts, dtype=float)
    n_atoms = force_rows.shape[0]
    df = force_rows.reshape(n_atoms * 3, nb) @ D[:, :nb].T  # [3N, K]
    e_std = float(np.sqrt(np.sum(de * de) / (k - 1)))
    f_std = np.sqrt(np.sum(df * df, axis=1) / (k - 1)).reshape(n_atoms, 3)
    return e_std, f_std
