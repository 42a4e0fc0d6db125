"""ace-lin fit CONFIG.yaml: fit a model; --template prints a documented configuration."""
HELP = "fit a model from a YAML configuration (--template prints one)"


def add_arguments(p):
    p.add_argument("config", nargs="?", help="fit configuration (YAML)")
    p.add_argument("--template", action="store_true",
                   help="print a documented template configuration and exit")
    p.add_argument("--output", help="model file (overrides 'output' of the configuration)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from ace_lin.cli.main import UsageError
    from ace_lin.fit.config import load_config, template_yaml

    if args.template:
        print(template_yaml())
        return 0
    if not args.config:
        raise UsageError("give a configuration file (or --template to print one)")
    cfg = load_config(args.config)
    if args.output:
        cfg.output = args.output
    from ace_lin.fit.driver import fit

    model, report = fit(cfg, progress=not args.no_progress)
    if report is None:  # MPI rank > 0: rank 0 prints
        return 0
    print(report.text())
    print(f"\nn_basis {report.n_basis}, solver {cfg.solver.kind}, lambda {report.lam:.3e}, "
          f"E0 " + ", ".join(f"{k} {v:.6f} eV ({report.e0_source[k]})" for k, v in report.e0.items()))
    sp = model.spec  # the radii the fit derived from the data are worth seeing
    print("radii (A): " + "; ".join(f"{k} r_cut {sp.r_cut[k]:.2f} r_in {sp.r_in[k]:.2f} "
                                    f"r_core {sp.r_core[k]:.2f} r_scale {sp.r_scale[k]:.2f}"
                                    for k in sp.r_cut))
    if report.r_scale_search:  # the evidence behind the chosen distance transform
        tr = report.r_scale_search
        stages = {}
        for t in tr["tried"]:
            stages.setdefault(t["stage"], []).append(f"{t['factor']:.3g}x {t['log_evidence']:.1f}")
        print(f"r_scale {tr['factor']:.3g} x default, the largest log evidence (training "
              f"part " + "; part ".join(f"{k}: " + ", ".join(v) for k, v in stages.items()) + ")")
    if report.prior_search and report.prior_search.get("skipped"):
        print(f"prior exponent p {report.prior_search['p']:.3g} "
              f"({report.prior_search['skipped']})")
    elif report.prior_search:  # the evidence behind the prior's exponent
        ps = report.prior_search
        print(f"prior exponent p {ps['p']:.3g}, the largest log evidence ("
              + ", ".join(f"p {t['p']:.3g}: {t['log_evidence']:.1f}" for t in ps["tried"]) + ")")
    print(f"model:        {report.model_path}\nerror table:  {report.errors_path}\n"
          f"parity plot:  {report.plot_path}")
    return 0
