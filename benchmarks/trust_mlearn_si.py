"""Extrapolation grade and committee uncertainty on real DFT data (issue 20, evidence 2).

Fits mlearn Si (small preset, defaults otherwise) without some config types: the surfaces
and the AIMD frames at and above --hot K (liquid Si). The left-out frames (from the train
and test files) must be recognised as out of distribution against the in-distribution test
frames (the mlearn test split of the kept types). Prints:
- ROC AUC of the per-configuration largest grade separating left-out from in-distribution
  test frames (target >= 0.9), and the grade quantiles of both groups;
- Spearman rank correlation of the largest grade with the per-configuration force RMSE;
- committee calibration (32 members, seed 0): fraction of force components whose error lies
  within 1, 2, 3 predicted std, with the committee spread alone (epistemic) and with the
  fit's noise model added (ACECalculator's forces_std_predictive: sqrt(std^2 + 1/beta),
  force weight 1);
  a Gaussian gives 0.683, 0.954, 0.997.
Writes <out>/trust_mlearn_si.png (ROC curve, grade vs force error).

    python3 benchmarks/trust_mlearn_si.py [--data ../shared/data] [--out DIR] [--hot 2530]
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from machine import machine_info  # noqa: E402


def temperature(atoms):
    d = atoms.info.get("description", "")
    return float(d.split(" at ")[-1].split()[0]) if " K" in d and " at " in d else None


def left_out(atoms, hot):
    t = atoms.info.get("config_type")
    return t == "Surface" or (t == "AIMD-NVT" and (temperature(atoms) or 0) >= hot)


def roc_auc(pos, neg):
    """P(score of a positive > score of a negative), ties count 1/2 (Mann-Whitney)."""
    pos, neg = np.asarray(pos)[:, None], np.asarray(neg)[None, :]
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


def spearman(a, b):
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--hot", type=float, default=2530.0, help="AIMD frames at >= this K are left out")
    ap.add_argument("--members", type=int, default=32)
    args = ap.parse_args()
    import ase.io

    from ace_lin.calculator import ACECalculator
    from ace_lin.fit.driver import fit

    out = args.out or tempfile.mkdtemp(prefix="trust_si_")
    os.makedirs(out, exist_ok=True)
    train = ase.io.read(os.path.join(args.data, "mlearn_Si_train.xyz"), ":")
    test = ase.io.read(os.path.join(args.data, "mlearn_Si_test.xyz"), ":")
    kept = [a for a in train if not left_out(a, args.hot)]
    held = [a for a in train + test if left_out(a, args.hot)]
    indist = [a for a in test if not left_out(a, args.hot)]
    path = os.path.join(out, "train_kept.xyz")
    ase.io.write(path, kept, format="extxyz")
    t0 = time.perf_counter()
    model, report = fit({"data": {"train": path}, "basis": {"size": "small"},
                         "output": os.path.join(out, "si_kept.json")})
    t_fit = time.perf_counter() - t0
    noise = model.posterior.noise.forces_std()  # eV/A
    calc = ACECalculator(model, committee=args.members, seed=0)

    def evaluate(frames):
        rows = []
        for a in frames:
            ref_f = a.get_forces()
            x = a.copy()
            x.calc = calc
            f = x.get_forces()
            r = calc.results
            err = f - ref_f
            rows.append({"max_gamma": r["max_gamma"], "f_rmse": float(np.sqrt(np.mean(err ** 2))),
                         "err": err.ravel(), "std": r["forces_std"].ravel(),
                         "pred": r["forces_std_predictive"].ravel(),
                         "type": a.info.get("config_type")})
        return rows

    t1 = time.perf_counter()
    ev_in, ev_out = evaluate(indist), evaluate(held)
    t_eval = time.perf_counter() - t1
    g_in = np.array([r["max_gamma"] for r in ev_in])
    g_out = np.array([r["max_gamma"] for r in ev_out])
    auc = roc_auc(g_out, g_in)
    allr = ev_in + ev_out
    rho = spearman([r["max_gamma"] for r in allr], [r["f_rmse"] for r in allr])
    rho_in = spearman(g_in, [r["f_rmse"] for r in ev_in])

    print(machine_info())
    print(f"mlearn Si, small preset: trained on {len(kept)} of {len(train)} configs "
          f"(left out: Surface, AIMD-NVT >= {args.hot:g} K); fit {t_fit:.0f} s, "
          f"evaluation with grade + {args.members}-member committee {t_eval:.0f} s "
          f"for {len(indist) + len(held)} configs")
    print()
    print("| frames | n | max grade: median | 10 % | 90 % | force RMSE eV/A (median) |")
    print("|---|---|---|---|---|---|")
    for name, g, ev in (("in-distribution test", g_in, ev_in), ("left out", g_out, ev_out)):
        print(f"| {name} | {g.size} | {np.median(g):.3g} | {np.quantile(g, 0.1):.3g} | "
              f"{np.quantile(g, 0.9):.3g} | {np.median([r['f_rmse'] for r in ev]):.3f} |")
    print()
    print(f"ROC AUC (largest grade, left out vs in-distribution test): {auc:.3f}  (target >= 0.9)")
    for kind in sorted({r["type"] for r in ev_out}):
        g = [r["max_gamma"] for r in ev_out if r["type"] == kind]
        print(f"  {kind} alone ({len(g)} configs): AUC {roc_auc(g, g_in):.3f}")
    trust = model.metadata.get("trust", {})
    print(f"active set and posterior in the fit: {trust.get('seconds')} s; active set "
          f"{trust.get('active_set')}")
    print(f"Spearman rank correlation grade / per-config force RMSE: all {rho:.3f}, "
          f"in-distribution test only {rho_in:.3f}")
    print()
    print(f"committee calibration (fit noise 1/sqrt(beta) = {noise:.4f} eV/A):")
    print("| frames | std | within 1 std | 2 std | 3 std | median predicted std eV/A | RMSE eV/A |")
    print("|---|---|---|---|---|---|---|")
    for name, ev in (("in-distribution test", ev_in), ("left out", ev_out)):
        err = np.abs(np.concatenate([r["err"] for r in ev]))
        std = np.concatenate([r["std"] for r in ev])
        pred = np.concatenate([r["pred"] for r in ev])
        for kind, s in (("committee", std), ("predictive (committee + noise)", pred)):
            frac = [float(np.mean(err <= k * s)) for k in (1, 2, 3)]
            print(f"| {name} | {kind} | {frac[0]:.3f} | {frac[1]:.3f} | {frac[2]:.3f} | "
                  f"{np.median(s):.4f} | {np.sqrt(np.mean(err ** 2)):.4f} |")
    print("(a Gaussian: 0.683, 0.954, 0.997)")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.4))
    thr = np.unique(np.r_[g_in, g_out, 0.0, np.inf])[::-1]
    tpr = [np.mean(g_out >= t) for t in thr]
    fpr = [np.mean(g_in >= t) for t in thr]
    ax1.plot(fpr, tpr, "-")
    ax1.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax1.set_xlabel("false positive rate (in-distribution test)")
    ax1.set_ylabel("true positive rate (left out)")
    ax1.set_title(f"largest grade per config, AUC {auc:.3f}")
    for name, ev, m in (("in-distribution test", ev_in, "o"), ("left out", ev_out, "^")):
        ax2.scatter([r["max_gamma"] for r in ev], [r["f_rmse"] for r in ev], s=14, marker=m, label=name)
    ax2.set_xscale("log")
    ax2.set_xlabel("largest grade of the config")
    ax2.set_ylabel("force RMSE of the config (eV/A)")
    ax2.set_title(f"Spearman {rho:.2f}")
    ax2.legend()
    fig.tight_layout()
    png = os.path.join(out, "trust_mlearn_si.png")
    tmp = png + f".{os.getpid()}.tmp.png"
    fig.savefig(tmp, dpi=120)
    os.replace(tmp, png)
    print(f"plot: {png}")


if __name__ == "__main__":
    main()
