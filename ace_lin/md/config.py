"""The MD configuration (`ace-lin md CONFIG.yaml`): keys, defaults, checks.

    model:      PATH of the model file
    structure:  PATH of the start structure (any format ase.io.read reads; last frame)
    supercell:  [a, b, c] repetitions (default [1, 1, 1])
    engine:     ase | lammps
    ranks:      MPI ranks of the LAMMPS engine (default 1)
    threads:    OpenMP threads per rank (default 0: all / OMP_NUM_THREADS)
    timestep:   fs (default 1.0)
    seed:       random seed of the initial velocities and the thermostat noise (default 0)
    stride:     steps between frames of trajectory.extxyz and rows of thermo.csv (default 10)
    checkpoint_every: steps between checkpoints (a multiple of every stage's stride; default
                100 x the largest stride, rounded up to such a multiple)
    output:     folder of the results (default "md")
    initial_temperature: K of the Maxwell-Boltzmann start velocities (default: the first
                stage's temperature)
    grade_threshold: frames whose max extrapolation grade exceeds it go to candidates.extxyz
    max_grade_stop:  the run ends at the first graded frame whose max grade exceeds it
    grade_every: steps between graded frames (default: every frame). A stage grades its
                frames on the multiples of lcm(its stride, grade_every): a graded frame costs
                several force calls (benchmarks/lammps_grade_cost.py), so an every-step
                window can keep the grade at a coarser spacing. Ungraded frames carry no
                max_gamma (thermo.csv: nan); only graded frames become candidates or stop
                the run.
    one stage at the top level (ensemble, temperature, steps, ...) or `stages:` a list of them.

A stage: ensemble (nve | nvt-langevin | nvt-csvr | nvt-nose-hoover | npt), steps,
temperature (K; required for thermostatted stages and for the first stage when no
initial_temperature is given), tau (fs, thermostat time: Langevin damping time = 1/friction,
CSVR relaxation time, Nose-Hoover period; default 100), pressure (GPa, npt), tau_p (fs,
barostat time, default 1000), barostat (iso | aniso | tri, default iso), stride (steps
between frames in this stage; default the top-level stride: e.g. a coarse equilibration
and production and a final window at every step for nonadiabatic couplings). Frames lie on
the steps that are multiples of their stage's stride, so each stage must start and end on
such a step; checkpoint_every must be a multiple of every stride.

Unknown keys, missing keys and bad values raise MDConfigError naming the key.
Relative paths in a YAML file are relative to the file's directory.
"""
import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import List, Optional

ENSEMBLES = ("nve", "nvt-langevin", "nvt-csvr", "nvt-nose-hoover", "npt")
THERMOSTATTED = ("nvt-langevin", "nvt-csvr", "nvt-nose-hoover", "npt")
ENGINES = ("ase", "lammps")
BAROSTATS = ("iso", "aniso", "tri")
STAGE_KEYS = ("ensemble", "temperature", "steps", "tau", "pressure", "tau_p", "barostat", "stride")
TOP_KEYS = ("model", "structure", "supercell", "engine", "ranks", "threads", "timestep", "seed",
            "stride", "checkpoint_every", "output", "initial_temperature", "grade_threshold",
            "max_grade_stop", "grade_every", "stages")


class MDConfigError(ValueError):
    """A bad MD configuration; the message names the key."""


@dataclass
class Stage:
    ensemble: str
    steps: int
    temperature: Optional[float] = None  # K
    tau: float = 100.0                   # fs
    pressure: Optional[float] = None     # GPa
    tau_p: float = 1000.0                # fs
    barostat: str = "iso"
    stride: Optional[int] = None         # steps between frames; None: the run's stride


@dataclass
class MDConfig:
    model: str
    structure: str
    stages: List[Stage]
    supercell: List[int] = field(default_factory=lambda: [1, 1, 1])
    engine: str = "ase"
    ranks: int = 1
    threads: int = 0
    timestep: float = 1.0  # fs
    seed: int = 0
    stride: int = 10
    checkpoint_every: Optional[int] = None
    output: str = "md"
    initial_temperature: Optional[float] = None  # K
    grade_threshold: Optional[float] = None
    max_grade_stop: Optional[float] = None
    grade_every: Optional[int] = None  # steps; None: every frame

    @property
    def total_steps(self) -> int:
        return sum(s.steps for s in self.stages)

    def stage_stride(self, k) -> int:
        """Steps between frames in stage k."""
        return self.stages[k].stride or self.stride

    def stage_grade_stride(self, k) -> int:
        """Steps between graded frames in stage k (a multiple of its stride)."""
        stride = self.stage_stride(k)
        return math.lcm(stride, self.grade_every) if self.grade_every else stride

    def graded(self, step) -> bool:
        """Whether the frame at this step is graded: a multiple of the grade stride of the
        stage that ends on it (step 0: the first stage)."""
        first, owner = 0, 0
        for k, st in enumerate(self.stages):
            if st.steps:  # a stage of no steps ends on no frame of its own
                owner = k
                if step <= first + st.steps:
                    break
            first += st.steps
        return step % self.stage_grade_stride(owner) == 0

    def _physics(self) -> dict:
        d = asdict(self)
        for key in ("ranks", "threads", "output", "grade_threshold", "max_grade_stop",
                    "grade_every"):
            d.pop(key)
        for st in d["stages"]:  # runs configured before stage strides existed still resume
            if st["stride"] is None:
                st.pop("stride")
        return d

    def fingerprint(self) -> str:
        """Hash of everything that decides the trajectory (not engine resources such as
        ranks and threads, not the output folder, not the grade's limits and spacing,
        which may be changed to continue a stopped run): a resume with other physics is
        refused. The model and the structure count by their contents, so that a run folder
        moved with its files (to a cluster's scratch, say) still resumes."""
        d = self._physics()
        for key in ("model", "structure"):
            d[key] = _file_hash(d[key])
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def fingerprints(self) -> tuple:
        """The fingerprint, then the path-based one that checkpoints before the content
        hash hold (they still resume where the paths have not changed)."""
        legacy = hashlib.sha256(json.dumps(self._physics(), sort_keys=True).encode())
        return self.fingerprint(), legacy.hexdigest()[:16]


def _file_hash(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- value checks ------------------------------------------------------------------------
def _number(v, key, positive=False, minimum=None):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or abs(v) == float("inf"):
        raise MDConfigError(f"'{key}': expected a finite number, got {v!r}")
    if positive and v <= 0:
        raise MDConfigError(f"'{key}': must be > 0, got {v}")
    if minimum is not None and v < minimum:
        raise MDConfigError(f"'{key}': must be >= {minimum}, got {v}")
    return float(v)


def _integer(v, key, minimum):
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise MDConfigError(f"'{key}': expected an integer >= {minimum}, got {v!r}")
    return int(v)


def _choice(v, key, choices):
    if v not in choices:
        raise MDConfigError(f"'{key}': unknown value {v!r}; choose one of {', '.join(choices)}")
    return v


def _path(v, key, base):
    if not isinstance(v, str) or not v:
        raise MDConfigError(f"'{key}': expected a file path, got {v!r}")
    v = os.path.expanduser(v)
    return v if os.path.isabs(v) or base is None else os.path.join(base, v)


def _stage(d, where, first, has_initial_t):
    if not isinstance(d, dict):
        raise MDConfigError(f"{where}: expected a mapping of stage keys, got {d!r}")
    unknown = sorted(set(d) - set(STAGE_KEYS))
    if unknown:
        raise MDConfigError(f"{where}: unknown key '{unknown[0]}' (stage keys: {', '.join(STAGE_KEYS)})")
    for key in ("ensemble", "steps"):
        if key not in d:
            raise MDConfigError(f"{where}: missing key '{key}'")
    ens = _choice(d["ensemble"], f"{where}ensemble", ENSEMBLES)
    st = Stage(ensemble=ens, steps=_integer(d["steps"], f"{where}steps", 0))
    need_t = ens in THERMOSTATTED or (first and not has_initial_t)
    if "temperature" in d:
        st.temperature = _number(d["temperature"], f"{where}temperature", minimum=0.0)
    elif need_t:
        why = "thermostat" if ens in THERMOSTATTED else "initial velocities (or give initial_temperature)"
        raise MDConfigError(f"{where}: missing key 'temperature' (K; needed for the {why})")
    if ens in THERMOSTATTED and st.temperature <= 0:
        raise MDConfigError(f"{where}temperature: a thermostat needs a temperature > 0 K")
    if "tau" in d:
        st.tau = _number(d["tau"], f"{where}tau", positive=True)
    if "stride" in d:
        st.stride = _integer(d["stride"], f"{where}stride", 1)
    if ens == "npt":
        if "pressure" not in d:
            raise MDConfigError(f"{where}: missing key 'pressure' (GPa; needed for npt)")
        st.pressure = _number(d["pressure"], f"{where}pressure")
        if "tau_p" in d:
            st.tau_p = _number(d["tau_p"], f"{where}tau_p", positive=True)
        if "barostat" in d:
            st.barostat = _choice(d["barostat"], f"{where}barostat", BAROSTATS)
    else:
        for key in ("pressure", "tau_p", "barostat"):
            if key in d:
                raise MDConfigError(f"{where}{key}: only an npt stage takes '{key}'")
    return st


def parse_config(d: dict, base_dir=None) -> MDConfig:
    """MDConfig from a mapping (as read from YAML); base_dir: folder for relative paths."""
    if not isinstance(d, dict):
        raise MDConfigError(f"the configuration must be a mapping of keys, got {type(d).__name__}")
    unknown = sorted(set(d) - set(TOP_KEYS) - set(STAGE_KEYS))
    if unknown:
        raise MDConfigError(f"unknown key '{unknown[0]}' (keys: {', '.join(TOP_KEYS + STAGE_KEYS)})")
    for key in ("model", "structure"):
        if key not in d:
            raise MDConfigError(f"missing key '{key}'")
    top_stage = {k: d[k] for k in STAGE_KEYS if k in d and k != "stride"}  # stride: both
    has_t0 = d.get("initial_temperature") is not None
    if "stages" in d:
        if top_stage:
            raise MDConfigError(f"give either 'stages' or one stage at the top level, not both "
                                f"('{sorted(top_stage)[0]}' is at the top level)")
        if not isinstance(d["stages"], list) or not d["stages"]:
            raise MDConfigError("'stages': expected a non-empty list of stages")
        stages = [_stage(s, f"stages[{k}].", k == 0, has_t0) for k, s in enumerate(d["stages"])]
    else:
        if "ensemble" not in top_stage:
            raise MDConfigError("missing key 'ensemble' (or a list 'stages')")
        stages = [_stage(top_stage, "", True, has_t0)]  # the top-level stride is the run's
    cfg = MDConfig(model=_path(d["model"], "model", base_dir),
                   structure=_path(d["structure"], "structure", base_dir), stages=stages)
    if "supercell" in d:
        sc = d["supercell"]
        if not isinstance(sc, (list, tuple)) or len(sc) != 3:
            raise MDConfigError(f"'supercell': expected [a, b, c], got {sc!r}")
        cfg.supercell = [_integer(v, "supercell", 1) for v in sc]
    if "engine" in d:
        cfg.engine = _choice(d["engine"], "engine", ENGINES)
    if "ranks" in d:
        cfg.ranks = _integer(d["ranks"], "ranks", 1)
    if "threads" in d:
        cfg.threads = _integer(d["threads"], "threads", 0)
    if "timestep" in d:
        cfg.timestep = _number(d["timestep"], "timestep", positive=True)
    if "seed" in d:
        cfg.seed = _integer(d["seed"], "seed", 0)
    if "stride" in d:
        cfg.stride = _integer(d["stride"], "stride", 1)
    strides = [cfg.stage_stride(k) for k in range(len(stages))]
    common = math.lcm(*strides)
    cfg.checkpoint_every = -(-100 * max(strides) // common) * common
    if d.get("checkpoint_every") is not None:
        cfg.checkpoint_every = _integer(d["checkpoint_every"], "checkpoint_every", 1)
        bad = next((s for s in strides if cfg.checkpoint_every % s), None)
        if bad is not None:
            raise MDConfigError(f"'checkpoint_every' ({cfg.checkpoint_every}) must be a multiple "
                                f"of 'stride' ({bad})")
    if "output" in d:
        cfg.output = _path(d["output"], "output", base_dir)
    elif base_dir is not None:
        cfg.output = os.path.join(base_dir, cfg.output)
    for key in ("initial_temperature", "grade_threshold", "max_grade_stop"):
        if d.get(key) is not None:
            setattr(cfg, key, _number(d[key], key, minimum=0.0))
    if d.get("grade_every") is not None:
        cfg.grade_every = _integer(d["grade_every"], "grade_every", 1)
    first = 0
    for k, st in enumerate(cfg.stages):
        stride = cfg.stage_stride(k)
        if st.steps % stride:
            raise MDConfigError(f"stage {k}: steps ({st.steps}) must be a multiple of 'stride' "
                                f"({stride}), so that every stage ends on a frame")
        if first % stride:
            raise MDConfigError(f"stage {k}: it starts at step {first}, not a multiple of its "
                                f"'stride' ({stride}); frames lie on multiples of the stride")
        first += st.steps
        if st.ensemble == "npt" and cfg.engine == "ase" and st.barostat != "iso":
            raise MDConfigError(f"stage {k}: the ASE engine's npt is isotropic only "
                                f"(barostat: iso, or engine: lammps)")
    return cfg


def load_config(path) -> MDConfig:
    """MDConfig from a YAML file."""
    import yaml

    if not os.path.isfile(path):
        raise MDConfigError(f"{path}: no such configuration file")
    with open(path) as fh:
        try:
            d = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise MDConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if d is None:
        raise MDConfigError(f"{path}: the file is empty")
    try:
        return parse_config(d, base_dir=os.path.dirname(os.path.abspath(path)))
    except MDConfigError as exc:
        raise MDConfigError(f"{path}: {exc}") from None
