"""What the two hyper-parameter searches (fit/r_scale_search.py, fit/prior_search.py) share.

Both choose one number by the Bayesian evidence of the training data when the
configuration leaves it open with the word 'auto' (is_auto), and both place their last
candidate at the vertex of the parabola through three scored points (parabola_vertex).
This module depends on neither search nor on the fitting problem, so that preparing a
problem (fit/problem.py) can read the configuration without importing the searches.
"""
from typing import Optional

# the prior exponents the prior search scores first; while r_scale is searched, the
# prior's exponent is the middle one (fit/prior_search.py reuses that evidence)
PRIOR_START = (2.0, 3.0, 4.0)

# above this many basis functions (p) the searches score fewer candidates: every evidence
# of the full training system is a dense factorization, O(p^3) (O(m^2 p) with fewer data
# rows m than functions). The r_scale search then picks its winner on part A alone, and
# the prior exponent stays at the start value that r_scale search scored with
# (fit/r_scale_search.py, fit/prior_search.py). Three-element bases (2346 functions with
# `small`) are above it: the cheaper path costs them about a third of the fit's time and
# little accuracy (benchmarks/RESULTS.md, "The searches' cheaper path from 2000 functions").
LARGE_P = 2000


def is_large(n_basis: int) -> bool:
    """True when a basis is large enough for the searches' cheaper path (LARGE_P)."""
    return int(n_basis) > LARGE_P


def word(value) -> Optional[str]:
    """A configuration string normalised for comparison (case, surrounding spaces); None
    for anything that is not a string."""
    return value.strip().lower() if isinstance(value, str) else None


def is_auto(value, absent: bool = False) -> bool:
    """True when a hyper-parameter is left to the data: the word 'auto' (any case,
    surrounding spaces ignored), or None when `absent` says that leaving the key out
    means 'auto' too."""
    if value is None:
        return absent
    return word(value) == "auto"


def parabola_vertex(e_low: float, e_mid: float, e_high: float, h: float) -> Optional[float]:
    """Offset from the middle point of the vertex of the parabola through three equally
    spaced points (spacing h); None when they do not curve downwards (no maximum)."""
    curvature = e_low - 2 * e_mid + e_high
    if curvature >= 0:
        return None
    return -(e_high - e_low) * h / (2 * curvature)


def spec_r_scale(fields: dict) -> dict:
    """The basis fields for BasisSpec: r_scale 'auto' (searched later) and 'covalent' both
    start from BasisSpec's default, the sum of covalent radii; other strings are an error."""
    w = word(fields.get("r_scale"))
    if w is None:
        return fields
    if w not in ("auto", "covalent"):
        raise ValueError(f"r_scale must be a length (A), a {{pair: length}} mapping, 'auto' "
                         f"(chosen by evidence) or 'covalent', got {fields['r_scale']!r}")
    return {k: v for k, v in fields.items() if k != "r_scale"}
