"""`ace-lin` console entry point: dispatches to one module per subcommand.

A subcommand module defines HELP (one line), add_arguments(parser) and run(args) -> int,
and imports heavy modules inside run() so that `ace-lin --help` stays fast. Modules
listed here but not installed (subcommands still being written) are simply not offered.

User errors (bad configuration, unreadable data, bad model file) are printed as one line
on stderr with exit code 2; anything else is a bug and keeps its traceback.

main() applies ace_lin.threads.configure_threads() before any subcommand module (and so
numpy or the compiled core) is imported: the thread settings only work that early.
"""
import argparse
import importlib
import sys

from ace_lin.threads import configure_threads

SUBCOMMANDS = {
    "fit": "ace_lin.cli.fit",
    "errors": "ace_lin.cli.errors",
    "cv": "ace_lin.cli.cv",
    "info": "ace_lin.cli.info",
    "md": "ace_lin.cli.md",
    "lammps-plugin": "ace_lin.cli.lammps_plugin",
    "activeset": "ace_lin.cli.activeset",
    "select": "ace_lin.cli.select",
    "snapshots": "ace_lin.cli.snapshots",
    "analyze": "ace_lin.cli.analyze",
    "active-learn": "ace_lin.cli.active_learn",
}

EXIT_USAGE = 2


class UsageError(Exception):
    """Raised by subcommands for a user mistake that is not a config/data/model error."""


def user_error_types() -> tuple:
    """Exception types that mean 'the input is wrong', not 'the program is wrong'."""
    from ace_lin.data.read import DataError
    from ace_lin.fit.config import ConfigError
    from ace_lin.md.checkpoint import CheckpointError
    from ace_lin.md.config import MDConfigError

    types = [UsageError, ConfigError, DataError, MDConfigError, CheckpointError]
    try:
        from ace_lin.io.model_file import ModelFileError

        types.append(ModelFileError)
    except ImportError:  # the model file module may be absent in a partial checkout
        pass
    return tuple(types)


def _available():
    mods = {}
    for name, modname in SUBCOMMANDS.items():
        try:
            mods[name] = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name != modname:  # a real missing dependency inside the module
                raise
    return mods


def build_parser(mods) -> argparse.ArgumentParser:
    from ace_lin import __version__

    parser = argparse.ArgumentParser(
        prog="ace-lin", description="Linear atomic cluster expansion force fields "
                                    "(units: eV, Angstrom, eV/A, stress eV/A^3 / GPa).")
    parser.add_argument("--version", action="version", version=f"ace_lin {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, mod in mods.items():
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv=None) -> int:
    configure_threads()
    mods = _available()
    parser = build_parser(mods)
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args._run(args) or 0)
    except user_error_types() as exc:
        msg = " ".join(str(exc).split())  # one line, whatever the exception text
        print(f"ace-lin {args.command}: error: {msg}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # e.g. output directory not writable: the user's to fix
        print(f"ace-lin {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
