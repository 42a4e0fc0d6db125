"""Basis presets: the one place where named basis sizes are defined (plain data).

Each preset is a partial BasisSpec (every field except `elements`); a config may override
any field. Sizes below are for ONE element; with k elements the count grows roughly
like k^order per centre element, so multi-element fits should start from "small".
Measured n_basis for one element (order 4, w_l 1.5):
    small   degree (16, 16, 12, 10)  ->  341 functions
    medium  degree (16, 16, 15, 13)  ->  740 functions
    large   degree (18, 18, 16, 14)  -> 1054 functions
Degrees D_nu are per correlation order nu = 1..4: a high D_1, D_2 gives a rich radial
(2- and 3-body) part cheaply; high-order terms are the expensive ones.
"""
from typing import Dict

BASIS_PRESETS: Dict[str, dict] = {
    "small": {"order": 4, "degree": [16, 16, 12, 10], "r_cut": 5.0},
    "medium": {"order": 4, "degree": [16, 16, 15, 13], "r_cut": 5.0},
    "large": {"order": 4, "degree": [18, 18, 16, 14], "r_cut": 5.0},
}

DEFAULT_BASIS_SIZE = "small"


def preset(size: str) -> dict:
    """A copy of the named preset's BasisSpec fields."""
    if size not in BASIS_PRESETS:
        raise ValueError(f"unknown basis size {size!r}; choose one of {sorted(BASIS_PRESETS)}")
    return {k: (list(v) if isinstance(v, list) else v) for k, v in BASIS_PRESETS[size].items()}
