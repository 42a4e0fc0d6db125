"""The active-learning configuration (`ace-lin active-learn CONFIG.yaml`).

    fit:        a fit configuration (mapping, or the path of its YAML): the starting data and
                the basis; its `output` is replaced by OUTPUT/model.json
    oracle:     {calculator: IMPORT.PATH, kwargs: {...}}   any ASE calculator
    structures: PATH or [PATH, ...]   start structures for exploration (every frame of each)
    explore:    {temperatures: [K], strains: [fraction], steps, timestep (fs), stride,
                 friction (1/fs), max_grade_stop}
    threshold:  extrapolation grade above which an exploration frame is a candidate
    select_per_iteration, budget (labels in all), iterations, seed
    mode:       loop | on-the-fly
    selection:  maxvol (frames that add most to the active set) | random (uniformly among
                all exploration frames: a baseline to compare with)
    output:     folder of the run (labelled.extxyz, model.json, progress.csv, ...)

Unknown or missing keys are errors naming the key. Relative paths in a YAML file are
relative to its directory.
"""
import os
from dataclasses import dataclass, field
from typing import List

from ace_lin.fit.config import ConfigError, _int, _num, _positive

MODES = ("loop", "on-the-fly")
SELECTIONS = ("maxvol", "random")


@dataclass
class ExploreSettings:
    temperatures: List[float] = field(default_factory=lambda: [300.0, 900.0, 1500.0])  # K
    strains: List[float] = field(default_factory=lambda: [-0.05, 0.0, 0.05])  # isotropic, fraction
    steps: int = 500          # MD steps per exploration trajectory
    timestep: float = 2.0     # fs
    stride: int = 10          # steps between frames whose grade is computed
    friction: float = 0.01    # Langevin friction, 1/fs
    max_grade_stop: float = 20.0  # a trajectory ends once a frame's grade passes this


@dataclass
class ActiveLearnConfig:
    fit: dict
    oracle_calculator: str
    oracle_kwargs: dict
    structures: List[str]
    output: str
    explore: ExploreSettings = field(default_factory=ExploreSettings)
    threshold: float = 1.5
    select_per_iteration: int = 10
    budget: int = 200
    iterations: int = 10
    seed: int = 0
    mode: str = "loop"
    selection: str = "maxvol"


_TOP = {"fit", "oracle", "structures", "explore", "threshold", "select_per_iteration",
        "budget", "iterations", "seed", "output", "mode", "selection"}


def _path(p, base, where):
    if not isinstance(p, str) or not p:
        raise ConfigError(f"{where}: expected a path, got {p!r}")
    return p if os.path.isabs(p) else os.path.normpath(os.path.join(base, p))


def _numbers(v, where, check):
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = [v]
    if not isinstance(v, list) or not v:
        raise ConfigError(f"{where}: expected a number or a non-empty list of numbers, got {v!r}")
    return [check(x, f"{where}[{i}]") for i, x in enumerate(v)]


def _strain(v, where):
    v = _num(v, where)
    if not -0.5 < v < 0.5:
        raise ConfigError(f"{where}: a strain is a fraction in (-0.5, 0.5), got {v}")
    return v


def _explore(raw) -> ExploreSettings:
    if raw is None:
        return ExploreSettings()
    if not isinstance(raw, dict):
        raise ConfigError("section 'explore': expected a mapping")
    known = set(ExploreSettings.__dataclass_fields__)
    for k in raw:
        if k not in known:
            raise ConfigError(f"unknown key '{k}' in section 'explore' (allowed: {sorted(known)})")
    s = ExploreSettings()
    if "temperatures" in raw:
        s.temperatures = _numbers(raw["temperatures"], "explore.temperatures", _positive)
    if "strains" in raw:
        s.strains = _numbers(raw["strains"], "explore.strains", _strain)
    for key in ("steps", "stride"):
        if key in raw:
            setattr(s, key, _int(raw[key], f"explore.{key}"))
    for key in ("timestep", "friction", "max_grade_stop"):
        if key in raw:
            setattr(s, key, _positive(raw[key], f"explore.{key}"))
    return s


def _fit_section(raw, base):
    from ace_lin.fit.config import load_config

    if isinstance(raw, str):
        path = _path(raw, base, "fit")
        if not os.path.exists(path):
            raise ConfigError(f"fit: configuration file not found: {path}")
        import yaml

        with open(path) as fh:
            raw, base = yaml.safe_load(fh), os.path.dirname(path)
    if not isinstance(raw, dict):
        raise ConfigError("fit: expected a fit configuration (mapping) or the path of one")
    raw = dict(raw)
    data = dict(raw.get("data") or {})
    for key in ("train", "test"):  # make the data paths absolute (the run may move)
        if isinstance(data.get(key), str):
            data[key] = _path(data[key], base, f"fit.data.{key}")
    raw["data"] = data
    raw.setdefault("output", "model.json")
    load_config(raw)  # validate now: a typo must not surface after the first exploration
    return raw


def parse(raw, base_dir: str = ".") -> ActiveLearnConfig:
    if not isinstance(raw, dict):
        raise ConfigError("active-learning configuration: expected a mapping")
    for k in raw:
        if k not in _TOP:
            raise ConfigError(f"unknown key '{k}' (allowed: {sorted(_TOP)})")
    for k in ("fit", "oracle", "structures", "output"):
        if k not in raw:
            raise ConfigError(f"missing key '{k}'")
    oracle = raw["oracle"]
    if not isinstance(oracle, dict) or "calculator" not in oracle:
        raise ConfigError("oracle: expected {calculator: IMPORT.PATH, kwargs: {...}}")
    extra = set(oracle) - {"calculator", "kwargs"}
    if extra:
        raise ConfigError(f"unknown key(s) {sorted(extra)} in section 'oracle'")
    kwargs = oracle.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise ConfigError("oracle.kwargs: expected a mapping")
    structures = raw["structures"]
    structures = [structures] if isinstance(structures, str) else structures
    if not isinstance(structures, list) or not structures:
        raise ConfigError("structures: expected a path or a non-empty list of paths")
    structures = [_path(p, base_dir, f"structures[{i}]") for i, p in enumerate(structures)]
    for p in structures:
        if not os.path.exists(p):
            raise ConfigError(f"structures: file not found: {p}")
    mode = raw.get("mode", "loop")
    if mode not in MODES:
        raise ConfigError(f"mode: expected one of {list(MODES)}, got {mode!r}")
    selection = raw.get("selection", "maxvol")
    if selection not in SELECTIONS:
        raise ConfigError(f"selection: expected one of {list(SELECTIONS)}, got {selection!r}")
    cfg = ActiveLearnConfig(
        fit=_fit_section(raw["fit"], base_dir), oracle_calculator=oracle["calculator"],
        oracle_kwargs=kwargs, structures=structures,
        output=_path(raw["output"], base_dir, "output"), explore=_explore(raw.get("explore")),
        mode=mode, selection=selection)
    if "threshold" in raw:
        cfg.threshold = _num(raw["threshold"], "threshold", minimum=1.0)
    for key in ("select_per_iteration", "budget", "iterations"):
        if key in raw:
            setattr(cfg, key, _int(raw[key], key))
    if "seed" in raw:
        cfg.seed = _int(raw["seed"], "seed", minimum=0)
    if cfg.explore.max_grade_stop <= cfg.threshold:
        raise ConfigError(f"explore.max_grade_stop ({cfg.explore.max_grade_stop}) must be above "
                          f"threshold ({cfg.threshold})")
    return cfg


def load(path: str) -> ActiveLearnConfig:
    import yaml

    if not os.path.exists(path):
        raise ConfigError(f"configuration file not found: {path}")
    with open(path) as fh:
        try:
            raw = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return parse(raw, os.path.dirname(os.path.abspath(path)))
