"""Cross-validated accuracy of a preset (large unless --preset) and of variants of it, on training data only.

The mlearn test sets have ~25 configurations, and two surface slabs or a few hot liquid
snapshots move their MAE by 20 %. This script scores each variant by k-fold
cross-validation on the training file (ace_lin.fit.crossval, the same assembly and solver
as `ace-lin fit`), so a change of the defaults can be judged without looking at the test
set. Prints CV energy MAE (meV/atom), force MAE (eV/A), energy MAE per config_type and the
wall time of the whole cross-validation (2 cores), and the prior exponent of each fold
(chosen by the evidence of the fold's training part unless the variant fixes it).

    python3 benchmarks/fit_cv.py [--data ../shared/data] [--only mlearn_Si,mlearn_Mo]
                                 [--variants default,transform_p1,...] [--folds 5]
                                 [--preset large|small|fast|...]

The `c_*` variants are candidates for the cost-limited `fast` preset (run them with
--preset small: they replace its degrees and w_l; benchmarks/profile_force.py gives their cost).
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from machine import machine_info  # noqa: E402


def _fast_channel(r_cut, degree, lmax):
    """`fast` with a pair and three-body long-range channel to r_cut (A), degrees
    [D_1, D_2] and harmonics up to lmax (run with --preset fast)."""
    return {"basis": {"long_r_cut": r_cut, "long_order": 2, "long_degree": degree, "long_w_l": 1.0,
                      "long_lmax": lmax}}


# overrides of the `large` preset (basis / weights / solver sections of a fit config)
VARIANTS = {
    "default": {},
    "no_long_range": {"basis": {"long_r_cut": None}},
    "long_16_14_w2": {"basis": {"long_degree": [16, 14], "long_w_l": 2.0}},
    "long_16_16": {"basis": {"long_degree": [16, 16], "long_lmax": None}},
    "long_22_22_l6": {"basis": {"long_degree": [22, 22], "long_lmax": 6}},
    "long_order3": {"basis": {"long_order": 3, "long_degree": [22, 21, 8]}},
    # cheaper long-range channels (issue 23: its three-body entries per neighbour, the
    # sum over l of (2l+1) N_l, are what the 7 A neighbours pay for; the preset has 574)
    "long_pair": {"basis": {"long_order": 1, "long_degree": [22]}},
    "long_22_21_w2": {"basis": {"long_degree": [22, 21], "long_w_l": 2.0}},
    "long_22_16_w2": {"basis": {"long_degree": [22, 16], "long_w_l": 2.0}},
    "long_22_18_w1.5": {"basis": {"long_degree": [22, 18], "long_w_l": 1.5}},
    "long_22_21_l3": {"basis": {"long_lmax": 3}},
    "long_rc6": {"basis": {"long_r_cut": 6.0}},
    "long_rc6_w2": {"basis": {"long_r_cut": 6.0, "long_w_l": 2.0}},
    "long_22_25_w2": {"basis": {"long_degree": [22, 25], "long_w_l": 2.0}},
    "s_w1.5_long_w2": {"basis": {"w_l": 1.5, "long_w_l": 2.0}},
    "s_w1.25_long_w2": {"basis": {"w_l": 1.25, "long_w_l": 2.0}},
    "s_18_18_16_14_w1.5_long_w2": {"basis": {"degree": [18, 18, 16, 14], "w_l": 1.5, "long_w_l": 2.0}},
    "r_scale_covalent": {"basis": {"r_scale": "covalent"}},
    "energy_w10": {"weights": {"energy": 10.0}},
    "energy_w100": {"weights": {"energy": 100.0}},
    "transform_p1": {"basis": {"transform_power": 1}},
    "r_cut_5.5": {"basis": {"r_cut": 5.5}},
    "w_l_0.75": {"basis": {"w_l": 0.75, "degree": [14, 14, 12, 10]}},
    "order5": {"basis": {"order": 5, "degree": [16, 16, 14, 12, 10]}},
    "deg_16_16_15_12": {"basis": {"degree": [16, 16, 15, 12]}},
    "deg_16_16_16_12": {"basis": {"degree": [16, 16, 16, 12]}},
    "deg_20_20_16_12": {"basis": {"degree": [20, 20, 16, 12]}},
    "no_column_scaling": {"solver": {"column_scaling": False}},
    "prior_p2": {"solver": {"prior": {"kind": "algebraic", "p": 2.0}}},
    "prior_p3": {"solver": {"prior": {"kind": "algebraic", "p": 3.0}}},  # the fixed p before
    # candidates for `fast` (a cost per atom-step well below small's)
    "c_16_16_12_10_w2": {"basis": {"degree": [16, 16, 12, 10], "w_l": 2.0}},
    "c_12_12_12_10": {"basis": {"degree": [12, 12, 12, 10], "w_l": 1.5}},
    "c_20_14_12_10_w2": {"basis": {"degree": [20, 14, 12, 10], "w_l": 2.0}},
    "c_16_14_14_12_w2": {"basis": {"degree": [16, 14, 14, 12], "w_l": 2.0}},
    "c_14_14_12_10": {"basis": {"degree": [14, 14, 12, 10], "w_l": 1.5}},
    "c_12_12_12_12": {"basis": {"degree": [12, 12, 12, 12], "w_l": 1.5}},
    "c_16_15_14_12": {"basis": {"degree": [16, 15, 14, 12], "w_l": 1.5}},
    "c_16_14_14_12": {"basis": {"degree": [16, 14, 14, 12], "w_l": 1.5}},
    "c_16_14_14_12_w1.75": {"basis": {"degree": [16, 14, 14, 12], "w_l": 1.75}},
    "c_16_13_13_12": {"basis": {"degree": [16, 13, 13, 12], "w_l": 1.5}},
    "c_rc4.2": {"basis": {"r_cut": 4.2}},
    "c_rc4.4": {"basis": {"r_cut": 4.4}},
    "c_rc4.4_16_15_14_12": {"basis": {"r_cut": 4.4, "degree": [16, 15, 14, 12]}},
    # `fast` with a cheap long-range channel (run with --preset fast): neighbours beyond the
    # short cutoff pay only the long channel's radial functions and harmonics up to its lmax
    "f_long6_pair": {"basis": {"long_r_cut": 6.0, "long_order": 1, "long_degree": [16], "long_w_l": 1.0}},
    "f_long7_pair": {"basis": {"long_r_cut": 7.0, "long_order": 1, "long_degree": [22], "long_w_l": 1.0}},
    "f_long6_l2": _fast_channel(6.0, [16, 12], 2),
    "f_long7_l2": _fast_channel(7.0, [16, 12], 2),
    "f_long6_l3": _fast_channel(6.0, [16, 12], 3),
    "f_long6_l2_16_16": _fast_channel(6.0, [16, 16], 2),
    "f_long6_l2_8_6": _fast_channel(6.0, [8, 6], 2),
    "f_long6_l2_10_8": _fast_channel(6.0, [10, 8], 2),
    "f_long6_l2_12_8": _fast_channel(6.0, [12, 8], 2),
    "f_long6_l2_12_10": _fast_channel(6.0, [12, 10], 2),
    "f_long6_l1_12_10": _fast_channel(6.0, [12, 10], 1),
    "f_long6_l2_16_8": _fast_channel(6.0, [16, 8], 2),
    "f_long6_l1_16_12": _fast_channel(6.0, [16, 12], 1),
    "f_long6_l1_12_12": _fast_channel(6.0, [12, 12], 1),
    "f_long6_l1_10_8": _fast_channel(6.0, [10, 8], 1),
    "f_long6_l2_12_6": _fast_channel(6.0, [12, 6], 2),
    "f_long5.5_l1_12_10": _fast_channel(5.5, [12, 10], 1),
    "f_long5.5_l2_8_6": _fast_channel(5.5, [8, 6], 2),
    # `fast` (with its channel since 467f5b3) with cheaper short-range degrees
    "fl_14_14_14_10": {"basis": {"degree": [14, 14, 14, 10]}},
    "fl_16_16_13_10": {"basis": {"degree": [16, 16, 13, 10]}},
    "fl_16_16_12_10": {"basis": {"degree": [16, 16, 12, 10]}},
    "fl_16_16_14_9": {"basis": {"degree": [16, 16, 14, 9]}},
}
DEFAULT_RUN = "default,no_long_range,long_16_14_w2,energy_w10,energy_w100,transform_p1,r_cut_5.5,order5,deg_16_16_16_12,no_column_scaling"


def config(data_dir, name, variant, preset="large"):
    cfg = {"data": {"train": f"{data_dir}/{name}_train.xyz"},
           "basis": {"size": preset}, "output": os.devnull + ".json"}
    for section, values in VARIANTS[variant].items():
        cfg.setdefault(section, {}).update(values)
    return cfg


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--data", default=os.path.join(here, "..", "..", "shared", "data"))
    ap.add_argument("--only", default="mlearn_Si,mlearn_Mo", help="comma-separated dataset names")
    ap.add_argument("--variants", default=DEFAULT_RUN,
                    help=f"comma-separated, from: {','.join(VARIANTS)}")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preset", default="large", help="the basis size the variants modify")
    args = ap.parse_args()
    from ace_lin.fit.crossval import cross_validate

    print(machine_info())
    print(f"{args.folds}-fold cross-validation on the training files (stratified by config_type, "
          f"seed {args.seed}); {args.preset} preset + overrides; test files not used")
    head = (f"{'dataset':<11} {'variant':<18} {'n_basis':>7} {'E MAE':>7} {'F MAE':>7}   "
            "E MAE per config_type (meV/atom)              wall s  prior p per fold")
    print(head + "\n" + f"{'':<11} {'':<18} {'':>7} {'meV/at':>7} {'eV/A':>7}\n" + "-" * len(head))
    for name in args.only.split(","):
        for variant in args.variants.split(","):
            t0 = time.perf_counter()
            cv = cross_validate(config(args.data, name, variant, args.preset), k=args.folds, seed=args.seed)
            wall = time.perf_counter() - t0
            e = cv.errors
            groups = " ".join(f"{g[:8]} {v['energy_mae']:5.2f}" for g, v in e["by_config_type"].items())
            print(f"{name:<11} {variant:<18} {cv.n_basis:>7} {e['energy_mae']:7.3f} "
                  f"{e['force_mae']:7.4f}   {groups:<44} {wall:6.1f}  "
                  + " ".join(f"{f['prior_p']:.3g}" for f in cv.folds), flush=True)


if __name__ == "__main__":
    main()
