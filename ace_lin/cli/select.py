"""ace-lin select MODEL CANDIDATES --n N --out FILE: the N structures of a pool that add
most to the model's active set (trust/select.py), written as extended XYZ."""
HELP = "choose the N candidate structures that add most to the active set (extended XYZ out)"


def add_arguments(p):
    p.add_argument("model", help="model file with an active set")
    p.add_argument("candidates", help="candidate pool (any format ase.io.read reads)")
    p.add_argument("--n", type=int, required=True, help="number of structures to choose")
    p.add_argument("--out", required=True, help="output file (extended XYZ); info keys "
                   "select_rank, select_max_gamma and select_pool_index are added")
    p.add_argument("--threads", type=int, default=0, help="OpenMP threads (0 = default)")
    p.add_argument("--progress", action="store_true", help="progress bar over candidates")


def run(args) -> int:
    import io
    import os

    import ase.io

    from ace_lin.cli.activeset import read_structures
    from ace_lin.cli.main import UsageError
    from ace_lin.io.atomic import atomic_write
    from ace_lin.model import load_model
    from ace_lin.trust.select import select_structures

    if not os.path.isfile(args.model):
        raise UsageError(f"{args.model}: no such model file")
    model = load_model(args.model)
    if not model.has_active_set:
        raise UsageError(f"{args.model}: the model has no active set: build one with "
                         "`ace-lin activeset MODEL TRAIN_DATA`")
    pool = read_structures(args.candidates, "candidate")
    unknown = sorted({s for a in pool for s in a.get_chemical_symbols()} - set(model.elements))
    if unknown:
        raise UsageError(f"{args.candidates}: element(s) {unknown} not in the model "
                         f"(model elements: {list(model.elements)})")
    try:
        idx, grades = select_structures(model, pool, args.n, progress=args.progress,
                                        n_threads=args.threads)
    except ValueError as exc:
        raise UsageError(f"{args.candidates}: {exc}") from None
    chosen = []
    for rank, (k, g) in enumerate(zip(idx, grades)):
        atoms = pool[k]
        atoms.info.update(select_rank=rank, select_max_gamma=g, select_pool_index=k)
        chosen.append(atoms)
    buf = io.StringIO()
    ase.io.write(buf, chosen, format="extxyz")
    atomic_write(args.out, buf.getvalue().encode(), "selection file")
    print(f"wrote {len(chosen)} of {len(pool)} structures to {args.out} "
          f"(largest grade when chosen: {grades[0]:.3g} .. {grades[-1]:.3g})")
    return 0
