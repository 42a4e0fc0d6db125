"""Fit accuracy and cost on the reference datasets of ../shared/data.

For each (dataset, preset) the whole command `ace-lin fit` runs in a subprocess with the
preset's defaults (no per-dataset tuning), then `ace-lin errors MODEL TEST --json`.
Prints: dataset, preset, basis size, test energy MAE (meV/atom), force MAE (eV/A), fit
wall time, peak memory, and for mlearn Si/Mo the published GAP/MTP test errors
(Zuo et al., J. Phys. Chem. A 124, 731 (2020)) with the issue's targets.

    python3 benchmarks/fit_accuracy.py [--data ../shared/data] [--only mlearn_Si,...]
                                       [--presets fast,small] [--out DIR]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from machine import machine_info  # noqa: E402

RUNS = [("mlearn_Si", "fast"), ("mlearn_Si", "small"), ("mlearn_Si", "large"),
        ("mlearn_Mo", "fast"), ("mlearn_Mo", "small"), ("mlearn_Mo", "large"),
        ("Ta_JCP2014", "fast"), ("Ta_JCP2014", "small"), ("Ta_JCP2014", "large"),
        ("WBe", "small"), ("ethanol", "small")]
# published test MAE (meV/atom, eV/A): GAP, MTP
PUBLISHED = {"mlearn_Si": ((2.91, 0.07), (2.21, 0.06)), "mlearn_Mo": ((2.24, 0.09), (2.83, 0.09))}


def run_fit(data_dir, name, size, out_dir):
    cfg = os.path.join(out_dir, f"{name}_{size}.yaml")
    model = os.path.join(out_dir, f"{name}_{size}.json")
    with open(cfg, "w") as fh:
        fh.write(f"data:\n  train: {data_dir}/{name}_train.xyz\n  test: {data_dir}/{name}_test.xyz\n"
                 f"basis:\n  size: {size}\noutput: {model}\n")
    t0 = time.perf_counter()
    # each fit in its own process, so ru_maxrss of that child is the fit's peak memory
    proc = subprocess.run([sys.executable, "-c", "import sys; from ace_lin.cli.main import main; "
                           f"r = main(['fit', {cfg!r}]); import resource; "
                           "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(r)"],
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"fit {name}/{size} failed:\n{proc.stderr[-2000:]}")
    peak_mb = int(proc.stdout.split("PEAK_KB")[-1].split()[0]) / 1024
    err = subprocess.run([sys.executable, "-m", "ace_lin.cli.main", "errors", model,
                          f"{data_dir}/{name}_test.xyz", "--json"], capture_output=True, text=True)
    if err.returncode != 0:
        raise RuntimeError(f"errors {name}/{size} failed:\n{err.stderr[-2000:]}")
    e = json.loads(err.stdout)
    with open(model) as fh:
        n_basis = len(json.load(fh)["coefficients"])
    return dict(n_basis=n_basis, e_mae=e["energy_mae"], f_mae=e["force_mae"], wall=wall, peak_mb=peak_mb)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--data", default=os.path.join(here, "..", "..", "shared", "data"))
    ap.add_argument("--only", default="", help="comma-separated dataset names")
    ap.add_argument("--presets", default="", help="comma-separated preset names (default: all)")
    ap.add_argument("--out", default=None, help="keep models here (default: a temporary dir)")
    args = ap.parse_args()
    runs = [r for r in RUNS if (not args.only or r[0] in args.only.split(","))
            and (not args.presets or r[1] in args.presets.split(","))]
    out = args.out or tempfile.mkdtemp(prefix="ace_lin_fits_")
    os.makedirs(out, exist_ok=True)
    print(machine_info())
    print(f"fits: whole `ace-lin fit` command, preset defaults, models in {out}")
    print(f"{'dataset':12s} {'preset':6s} {'n_basis':>7s} {'E MAE meV/at':>12s} {'F MAE eV/A':>10s} "
          f"{'fit wall s':>10s} {'peak MB':>8s}  reference")
    for name, size in runs:
        r = run_fit(os.path.abspath(args.data), name, size, out)
        ref = ""
        if name in PUBLISHED:
            (ge, gf), (me, mf) = PUBLISHED[name]
            best_e, best_f = min(ge, me), min(gf, mf)
            ok_e, ok_f = r["e_mae"] <= 0.8 * best_e, r["f_mae"] <= best_f
            ref = (f"GAP {ge}/{gf}, MTP {me}/{mf}; target E <= {0.8 * best_e:.2f} "
                   f"{'met' if ok_e else 'NOT met'}, F <= {best_f} {'met' if ok_f else 'NOT met'}")
        print(f"{name:12s} {size:6s} {r['n_basis']:7d} {r['e_mae']:12.2f} {r['f_mae']:10.4f} "
              f"{r['wall']:10.1f} {r['peak_mb']:8.0f}  {ref}", flush=True)


if __name__ == "__main__":
    main()
