"""ace-lin active-learn CONFIG.yaml: grow the training data where the model extrapolates."""
HELP = "active learning: explore with MD, label extrapolating frames with an ASE calculator, refit"


def add_arguments(p):
    p.add_argument("config", help="active-learning configuration (YAML; docs/active-learning.md)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args) -> int:
    from ace_lin.learn.config import load

    cfg = load(args.config)
    if cfg.mode == "on-the-fly":
        from ace_lin.learn.onthefly import run_on_the_fly as go
    else:
        from ace_lin.learn.loop import run_loop as go
    state = go(cfg, progress=not args.no_progress)
    rows = state["rows"]
    last = rows[-1] if rows else {}
    print(f"active learning ({cfg.mode}) finished: {state['finished']}; "
          f"{last.get('labels', 0)} labels, last largest grade {last.get('max_grade', 0):.3g}; "
          f"model {cfg.output}/model.json, data {cfg.output}/labelled.extxyz, "
          f"progress {cfg.output}/progress.csv")
    return 0
