"""ace-lin activeset MODEL TRAIN_DATA [--out MODEL2]: build (or rebuild) the active set of
the extrapolation grade for an existing model from its training structures."""
HELP = "build or rebuild a model's active set (extrapolation grade) from training structures"


def add_arguments(p):
    p.add_argument("model", help="model file")
    p.add_argument("train", help="training structures (extended XYZ or anything ase.io.read "
                                 "reads; energies and forces are not needed)")
    p.add_argument("--out", help="write the model with the active set here (default: replace "
                                 "MODEL, atomically)")
    p.add_argument("--threads", type=int, default=0, help="OpenMP threads (0 = default)")
    p.add_argument("--progress", action="store_true", help="progress bar over structures")


def read_structures(path, what):
    """All frames of a structure file (ase.io.read), or UsageError with the reason."""
    import os

    from ace_lin.cli.main import UsageError

    if not os.path.isfile(path):
        raise UsageError(f"{path}: no such {what} file")
    if os.path.getsize(path) == 0:
        raise UsageError(f"{path}: the {what} file is empty")
    import ase.io

    try:
        frames = ase.io.read(path, index=":")
    except Exception as exc:  # ase raises many types for unreadable files
        raise UsageError(f"{path}: cannot read {what} structures: {exc}") from None
    if not frames:
        raise UsageError(f"{path}: no structures in the {what} file")
    return frames


def run(args) -> int:
    import os

    from ace_lin.cli.main import UsageError
    from ace_lin.model import load_model
    from ace_lin.trust.fitstate import (FitStateError, fitstate_path, read_fitstate,
                                        write_fitstate)
    from ace_lin.trust.grade import build_active_set

    if not os.path.isfile(args.model):
        raise UsageError(f"{args.model}: no such model file")
    model = load_model(args.model)
    frames = read_structures(args.train, "training")
    unknown = sorted({s for a in frames for s in a.get_chemical_symbols()} - set(model.elements))
    if unknown:
        raise UsageError(f"{args.train}: element(s) {unknown} not in the model "
                         f"(model elements: {list(model.elements)})")
    try:
        aset = build_active_set(model.spec, frames, progress=args.progress,
                                n_threads=args.threads)
    except ValueError as exc:  # NaN positions, empty structures, ...
        raise UsageError(f"{args.train}: {exc}") from None
    if not aset:
        raise UsageError(f"{args.train}: no atom environments to build an active set from")
    out = args.out or args.model
    model.with_trust(active_set=aset).save(out)
    state_in = fitstate_path(args.model)
    if os.path.isfile(state_in):  # keep the fit state's active rows in step with the model
        try:
            state = read_fitstate(state_in, model.spec.spec_hash())
        except FitStateError as exc:
            print(f"note: fit state not updated: {exc}")
        else:
            state.active_set = aset
            write_fitstate(fitstate_path(out), state)
    for el, a in aset.items():
        print(f"{el}: {a.n_real} active training atoms, {a.columns.size} invariants "
              f"({a.columns.size - a.n_real} directions the training atoms do not span)")
    print(f"wrote {out} ({len(frames)} structures, {sum(len(a) for a in frames)} atoms)")
    return 0
