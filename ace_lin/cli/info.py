"""ace-lin info MODEL: what a model file contains."""
HELP = "show a model: elements, E0, basis size per order, cutoffs, training summary"


import numpy as np


def add_arguments(p):
    p.add_argument("model", help="model file")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def summary(model) -> dict:
    spec = model.spec
    fit = model.metadata.get("fit", {})
    out = {"elements": list(model.elements), "e0_eV": model.e0, "n_basis": model.basis.n_basis,
           "n_basis_by_order": model.basis.size_by_order(), "order": spec.order,
           "degree": list(spec.degree), "r_cut_A": dict(spec.r_cut), "r_in_A": dict(spec.r_in),
           "r_core_A": dict(spec.r_core), "r_scale_A": dict(spec.r_scale),
           "transform_power": spec.transform_power}
    if spec.has_long:
        out["long_range"] = {"order": spec.long_order, "degree": list(spec.long_degree),
                             "w_l": spec.long_w_l, "lmax": spec.long_lmax,
                             "r_cut_A": dict(spec.long_r_cut),
                             "r_scale_A": dict(spec.long_r_scale),
                             # long invariants: their first factor's n is past the short set
                             "n_basis": int((model.basis.labels[:, 0, 1] > spec.n_radial).sum())}
    if fit:
        out["training"] = {
            "data": fit.get("data"), "solver": fit.get("solver", {}).get("kind"),
            "lambda": fit.get("lambda"), "e0_source": fit.get("e0_source"),
            "rows": fit.get("rows"),
            "r_scale_factor": (fit.get("r_scale_search") or {}).get("factor"),
            "prior": fit.get("prior"),
            "prior_p_by_evidence": fit.get("prior_search") is not None,
            "train": _overall(fit.get("train_errors")), "test": _overall(fit.get("test_errors"))}
        learned = model.metadata.get("active_learning") or {}
        if learned.get("train_errors"):
            # the fit's errors are those of the model before active learning
            out["training"]["initial_train"] = out["training"].pop("train")
            out["training"]["initial_test"] = out["training"].pop("test")
            out["training"]["train"] = _overall(learned["train_errors"])
    active = model.active_set or {}
    out["trust"] = {
        "active_set": {el: int(np.asarray(G).shape[0]) for el, G in active.items()},
        "posterior": model.posterior is not None,
        "labels_folded": model.metadata.get("active_learning", {}).get("labels_folded")}
    return out


def _overall(table):
    if not table:
        return None
    keys = ("n_configs", "n_atoms", "energy_mae", "energy_rmse", "force_mae", "force_rmse",
            "stress_mae", "stress_rmse")
    return {k: table.get(k) for k in keys}


def _fmt(v):
    return "-" if v is None else f"{v:.4g}"


def run(args) -> int:
    import json
    import os

    from ace_lin.cli.main import UsageError
    from ace_lin.model import load_model

    if not os.path.isfile(args.model):
        raise UsageError(f"{args.model}: no such model file")
    s = summary(load_model(args.model))
    if args.json:
        print(json.dumps(s, indent=1))
        return 0
    print(f"elements        {' '.join(s['elements'])}")
    print("E0 (eV)         " + ", ".join(f"{k} {v:.6f}" for k, v in s["e0_eV"].items()))
    print(f"basis           {s['n_basis']} functions, order {s['order']}, degree {s['degree']}")
    print("  per order     " + ", ".join(f"nu={k}: {v}" for k, v in s["n_basis_by_order"].items()))
    for key, label in (("r_cut_A", "r_cut (A)"), ("r_in_A", "r_in (A)"), ("r_core_A", "r_core (A)"),
                       ("r_scale_A", "r_scale (A)")):
        print(f"{label:<16}" + ", ".join(f"{k} {v:.3f}" for k, v in s[key].items()))
    lr = s.get("long_range")
    if lr:
        print(f"long range      {lr['n_basis']} functions, order {lr['order']}, degree {lr['degree']}, "
              f"w_l {lr['w_l']:g}, lmax {lr['lmax']}")
        for key, label in (("r_cut_A", "  r_cut (A)"), ("r_scale_A", "  r_scale (A)")):
            print(f"{label:<16}" + ", ".join(f"{k} {v:.3f}" for k, v in lr[key].items()))
    factor = (s.get("training") or {}).get("r_scale_factor")
    print(f"transform       t = (1 + r/r_scale)^-{s['transform_power']}"
          + (f", r_scale {factor:.3g} x covalent sum, chosen by evidence" if factor else ""))
    tr = s.get("training")
    if tr:
        for name, d in (tr.get("data") or {}).items():
            print(f"{name + ' data':<16}{d['path']} (sha256 {d['sha256'][:16]})")
        print(f"solver          {tr['solver']}, lambda {_fmt(tr['lambda'])}")
        pr = tr.get("prior")
        if pr:
            how = ", chosen by evidence" if tr.get("prior_p_by_evidence") else ""
            shape = (f", gamma = {_fmt(pr['ridge'])} + (degree/{_fmt(pr['d_ref'])})^p, "
                     f"p {_fmt(pr['p'])}{how}" if pr["kind"] == "algebraic" else "")
            print(f"prior           {pr['kind']}{shape}")
        for name in ("train", "test", "initial_train", "initial_test"):
            e = tr.get(name)
            if e:
                label = name.replace("initial_", "first fit ")
                print(f"{label + ' errors':<16}{e['n_configs']} configs: E MAE {_fmt(e['energy_mae'])} "
                      f"meV/atom, F MAE {_fmt(e['force_mae'])} eV/A, S MAE {_fmt(e['stress_mae'])} GPa")
    t = s["trust"]
    grade = (", ".join(f"{el} ({n} invariants)" for el, n in t["active_set"].items())
             if t["active_set"] else "none (ace-lin activeset MODEL TRAIN_DATA builds one)")
    print(f"active set      {grade}")
    print(f"posterior       {'kept (committee uncertainties)' if t['posterior'] else 'none'}")
    if t["labels_folded"] is not None:
        print(f"active learning {t['labels_folded']} labels folded in")
    return 0
