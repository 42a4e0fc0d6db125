"""Basis presets: the one place where named basis sizes are defined (plain data).

A preset is a partial BasisSpec (every field except `elements`), chosen by size and by
the number of elements, because the basis grows roughly like (number of elements)^order:
the same degrees that give ~1000 functions for one element give ~4000 for two. A config
may override any field. Measured n_basis (order 4):

    size    1 element                     2 elements                3+ elements (3)
    small   (16,16,12,10) w_l 1.5:  341   (12,12,9,7) w_l 1.5: 1178   (10,10,8,6): 2793
    large   (16,16,14,12) w_l 1.0: 1040   (14,14,10,8) w_l 1.5: 1894  (12,12,9,6): 4446
            + long-range (22,21) l<=6: 1482

The large one-element preset adds a long-range channel (BasisSpec.long_r_cut): pair and
three-body functions reaching 7 A (vs 5 A for the many-body part), 442 functions. The data
reward its radial resolution more than its angular one, hence high degrees and l <= 6:
a force call costs 3 % more than with (16, 16), l <= 7 (220 functions;
benchmarks/core_speed.py), and on the mlearn Si / Mo training data the log evidence rises
by ~240 / ~250 and the 5-fold CV energy MAE falls from 2.29 to 2.25 (Si) and 1.90 to 1.87
meV/atom (Mo). Without any channel the CV MAE is 2.45 / 2.04 (Ta: 2.34 without, 3.19
with, all from one held-out config compressed to 40 eV/atom; README). All these with the
prior exponent fixed at 3; chosen by evidence (the default now) the preset's CV is Si
2.28, Mo 1.82, Ta 2.77.
Multi-element presets do not have it yet (their pair/three-body count grows with ns^2, ns^3).

Degrees D_nu are per correlation order nu = 1..4: high D_1, D_2 give a rich radial
(2- and 3-body) part cheaply; high orders are the expensive ones. w_l = 1 (instead of
1.5) buys angular resolution, which the mlearn Si/Mo benchmarks reward. The inner radii
(r_in, r_core) are left open and the 5 A cutoff is a floor: the fit derives them from the
data (fit/radii.py), so that large atoms (Cs, K, Ba, ...) keep their neighbour shells.
"""
from typing import Dict

_COMMON = {"order": 4, "r_cut": 5.0}

BASIS_PRESETS: Dict[str, Dict[int, dict]] = {
    "small": {1: {"degree": [16, 16, 12, 10], "w_l": 1.5},
              2: {"degree": [12, 12, 9, 7], "w_l": 1.5},
              3: {"degree": [10, 10, 8, 6], "w_l": 1.5}},
    "medium": {1: {"degree": [16, 16, 12, 10], "w_l": 1.0},
               2: {"degree": [13, 13, 10, 8], "w_l": 1.5},
               3: {"degree": [11, 11, 8, 6], "w_l": 1.5}},
    "large": {1: {"degree": [16, 16, 14, 12], "w_l": 1.0, "long_r_cut": 7.0, "long_order": 2,
                  "long_degree": [22, 21], "long_w_l": 1.0, "long_lmax": 6},
              2: {"degree": [14, 14, 10, 8], "w_l": 1.5},
              3: {"degree": [12, 12, 9, 6], "w_l": 1.5}},
}

DEFAULT_BASIS_SIZE = "small"


def preset(size: str, n_elements: int = 1) -> dict:
    """A copy of the named preset's BasisSpec fields for n_elements elements."""
    if size not in BASIS_PRESETS:
        raise ValueError(f"unknown basis size {size!r}; choose one of {sorted(BASIS_PRESETS)}")
    by_count = BASIS_PRESETS[size]
    fields = dict(_COMMON, **by_count[min(max(int(n_elements), 1), max(by_count))])
    return {k: (list(v) if isinstance(v, list) else v) for k, v in fields.items()}
