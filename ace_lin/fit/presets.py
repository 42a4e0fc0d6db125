"""Basis presets: the one place where named basis sizes are defined (plain data).

A preset is a partial BasisSpec (every field except `elements`), chosen by size and by
the number of elements, because the basis grows roughly like (number of elements)^order:
the same degrees that give about a thousand functions for one element give several times
as many for two. A configuration may override any field. The resulting n_basis of every
preset is in benchmarks/RESULTS.md ("Basis sizes"); their accuracy and cost in
benchmarks/fit_accuracy.py (RESULTS.md "Fit accuracy and cost").

Degrees D_nu are per correlation order nu = 1..4: high D_1, D_2 give a rich radial
(2- and 3-body) part cheaply; high orders are the expensive ones. w_l = 1 (instead of
1.5) buys angular resolution, which the mlearn Si/Mo benchmarks reward.

The large one-element preset adds a long-range channel (BasisSpec.long_r_cut): pair and
three-body functions reaching 7 A (vs 5 A for the many-body part). Its degrees (22, 21)
with l <= 6 favour radial over angular resolution, which is what the data reward: it
raises the log evidence and lowers the cross-validated errors of mlearn Si and Mo at a
small cost per force call (benchmarks/fit_cv.py variants no_long_range, long_16_16,
default; benchmarks/core_speed.py; RESULTS.md "Cross-validation"). For Ta the channel
raises the CV energy error, all of it from the most compressed cell, pure extrapolation
when held out (RESULTS.md). Multi-element presets do not have the channel (its pair and
three-body count grows with ns^2, ns^3).

Four or more elements: the full species expansion at the three-element degrees has
7856 functions for four elements and 17975 for five, too many to fit on a workstation.
The degree limits there are order-dependent: the three- and four-body degrees (D_3, D_4)
drop most, the pair degree D_1 stays, so that the radial resolution of the 2-body part is
kept while the species tuples of the high orders are few (n_basis still grows about like
ns^3, through the 3-body part; benchmarks/many_elements.py, RESULTS.md "Many elements").

Three elements: w_l = 1 (angular resolution up to l = 3) with degrees [9, 9, 7, 5] is as
accurate as the earlier [10, 10, 8, 6] with w_l 1.5 on a ternary alloy and more accurate on
a molecule (ethanol), with 84 % of the functions (benchmarks/many_elements.py and the
ethanol fits of RESULTS.md "Chemical embedding and three-element degrees").

`fast` is cost-limited: its cutoff floor is 4 A instead of 5, so the cutoff is the fit's
1.85 x the nearest-neighbour distance wherever that is above 4 A (Si: 4.35 A, 16 neighbours
instead of 28 within 5 A; bcc and fcc metals keep theirs, which lie above 5 A), and a
higher three-body degree than `small` (14 against 12) buys back the accuracy of the farther
neighbours. Its one-element form adds a cheap long-range channel: pair and three-body
functions reaching 6 A with 12 radial functions and l <= 1, so that a neighbour beyond the
short cutoff pays 12 radial functions, 4 harmonics and 48 atomic-base entries. Cross-validated
on Si, Mo and Ta, the channel lowers both the energy and the force errors on all three;
channels with l <= 2 or more radial functions are a little more accurate on Si and cost
more per MD step than the 4 x Tersoff this preset is held to
(benchmarks/fit_cv.py variants f_*, benchmarks/lammps_md_speed.py; RESULTS.md "The `fast`
preset"). Without the channel, `fast` is as accurate as `small` or better on all three sets
in cross-validation; a four-body degree of 12 too is better on Si only, worse on Mo and Ta
and 1.2 x the products' cost.

The inner radii (r_in, r_core) are left open and the cutoff is a floor: the fit derives
them from the data (fit/radii.py), so that large atoms (Cs, K, Ba, ...) keep their
neighbour shells.
"""
from typing import Dict

_COMMON = {"order": 4, "r_cut": 5.0}

BASIS_PRESETS: Dict[str, Dict[int, dict]] = {
    "fast": {1: {"degree": [16, 16, 14, 10], "w_l": 1.5, "r_cut": 4.0, "long_r_cut": 6.0,
                 "long_order": 2, "long_degree": [12, 12], "long_w_l": 1.0, "long_lmax": 1},
             2: {"degree": [12, 12, 9, 7], "w_l": 1.5, "r_cut": 4.0},
             3: {"degree": [9, 9, 7, 5], "w_l": 1.0, "r_cut": 4.0},
             4: {"degree": [10, 8, 5, 4], "w_l": 1.5, "r_cut": 4.0}},
    "small": {1: {"degree": [16, 16, 12, 10], "w_l": 1.5},
              2: {"degree": [12, 12, 9, 7], "w_l": 1.5},
              3: {"degree": [9, 9, 7, 5], "w_l": 1.0},
              4: {"degree": [10, 8, 5, 4], "w_l": 1.5}},
    "medium": {1: {"degree": [16, 16, 12, 10], "w_l": 1.0},
               2: {"degree": [13, 13, 10, 8], "w_l": 1.5},
               3: {"degree": [11, 11, 8, 6], "w_l": 1.5},
               4: {"degree": [11, 9, 5, 4], "w_l": 1.5}},
    "large": {1: {"degree": [16, 16, 14, 12], "w_l": 1.0, "long_r_cut": 7.0, "long_order": 2,
                  "long_degree": [22, 21], "long_w_l": 1.0, "long_lmax": 6},
              2: {"degree": [14, 14, 10, 8], "w_l": 1.5},
              3: {"degree": [12, 12, 9, 6], "w_l": 1.5},
              4: {"degree": [12, 10, 5, 4], "w_l": 1.5}},
}

DEFAULT_BASIS_SIZE = "small"


def preset(size: str, n_elements: int = 1) -> dict:
    """A copy of the named preset's BasisSpec fields for n_elements elements."""
    if size not in BASIS_PRESETS:
        raise ValueError(f"unknown basis size {size!r}; choose one of {sorted(BASIS_PRESETS)}")
    by_count = BASIS_PRESETS[size]
    fields = dict(_COMMON, **by_count[min(max(int(n_elements), 1), max(by_count))])
    return {k: (list(v) if isinstance(v, list) else v) for k, v in fields.items()}
