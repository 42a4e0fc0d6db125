"""ace-lin cv CONFIG.yaml: k-fold cross-validation errors of a fit configuration."""
HELP = "k-fold cross-validation of a fit configuration on its training data (no test set used)"


def add_arguments(p):
    p.add_argument("config", help="fit configuration (YAML, as for `ace-lin fit`; output is not written)")
    p.add_argument("--folds", type=int, default=5, help="number of folds k (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the per-config_type fold split")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    import json

    from ace_lin.cli.main import UsageError
    from ace_lin.fit.crossval import cross_validate
    from ace_lin.fit.metrics import format_table

    if args.folds < 2:
        raise UsageError(f"--folds must be at least 2, got {args.folds}")
    cv = cross_validate(args.config, k=args.folds, seed=args.seed, progress=not args.no_progress)
    if cv.rank != 0:  # under mpirun rank 0 prints
        return 0
    if args.json:
        print(json.dumps(cv.to_dict(), indent=1))
    else:
        print(format_table(cv.errors, f"{args.folds}-fold cross-validation of {args.config} "
                                      f"({cv.n_basis} basis functions, seed {args.seed})"))
    return 0
