"""ace-lin errors MODEL DATA: MAE/RMSE of a model on a data file, per config_type."""
HELP = "errors of a model on a data set (meV/atom, eV/A, GPa), per config_type"


def add_arguments(p):
    p.add_argument("model", help="model file")
    p.add_argument("data", help="data file (extended XYZ or anything ase.io.read reads)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (energy_mae, energy_rmse, force_mae, force_rmse, "
                        "n_configs, n_atoms, by_config_type, ...)")
    p.add_argument("--energy-key", help="atoms.info key of the energy (default: calculator)")
    p.add_argument("--forces-key", help="atoms.arrays key of the forces (default: calculator)")
    p.add_argument("--stress-key", help="atoms.info key of the stress (default: calculator)")
    p.add_argument("--config-type-key", default="config_type", help="atoms.info key of the group")
    p.add_argument("--threads", type=int, default=0, help="OpenMP threads (0 = default)")


def run(args) -> int:
    import json
    import os

    from ace_lin.calculator import ACECalculator
    from ace_lin.cli.main import UsageError
    from ace_lin.data.read import ReadOptions, read_configs
    from ace_lin.fit.metrics import error_table, format_table, predict
    from ace_lin.model import load_model

    if not os.path.isfile(args.model):
        raise UsageError(f"{args.model}: no such model file")
    model = load_model(args.model)
    opts = ReadOptions(energy_key=args.energy_key, forces_key=args.forces_key,
                       stress_key=args.stress_key, config_type_key=args.config_type_key)
    configs = read_configs(args.data, elements=model.elements, options=opts)
    table = error_table(configs, predict(configs, ACECalculator(model, n_threads=args.threads)))
    if args.json:
        print(json.dumps(dict(table, units={"energy": "meV/atom", "forces": "eV/A",
                                            "stress": "GPa"}), indent=1))
    else:
        print(format_table(table, f"{args.data} with {args.model}"))
    return 0
