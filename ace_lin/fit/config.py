"""The fit configuration: dataclasses whose fields are the config keys (defined once here,
each documented in its metadata), loaded from YAML or a dict.

    data:     {train: PATH, test: PATH, energy_key, forces_key, ...}
    elements: [Si, O]                 (optional: inferred from the training data)
    e0:       auto | fit | {Si: -5.4}  (isolated-atom frames, fitted, or given; eV)
    basis:    {size: fast | small | medium | large} and/or explicit BasisSpec fields
    weights:  {energy: 30, forces: 1, stress: 1, config_types: {...}}
    solver:   {kind: blr | ridge | tsvd, ..., prior: {kind, p, d_ref, ridge}}
    assembly: {block_rows, n_threads, mpi, progress}
    trust:    {active_set: true, posterior: true}
    output:   PATH of the model file

Unknown keys are errors that name the key and its section (no guessing of near-misses).
Relative paths in a YAML file are relative to the file's directory.
"""
import os
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any, Dict, List, Optional, Union

from ace_lin.fit.presets import BASIS_PRESETS, DEFAULT_BASIS_SIZE, preset


class ConfigError(ValueError):
    """A bad fit configuration; the message names the section and the key."""


def _doc(text, check=None, **kw):
    return field(metadata={"doc": text, "check": check}, **kw)


# -- value checks: (value, where) -> converted value ----------------------------------
def _str(v, where):
    if not isinstance(v, str) or not v:
        raise ConfigError(f"{where}: expected a non-empty string, got {v!r}")
    return v


def _num(v, where, minimum=None, positive=False):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"{where}: expected a number, got {v!r}")
    v = float(v)
    if v != v or v in (float("inf"), float("-inf")):
        raise ConfigError(f"{where}: expected a finite number, got {v}")
    if minimum is not None and v < minimum:
        raise ConfigError(f"{where}: must be >= {minimum}, got {v}")
    if positive and v <= 0:
        raise ConfigError(f"{where}: must be > 0, got {v}")
    return v


def _nonneg(v, where):
    return _num(v, where, minimum=0.0)


def _positive(v, where):
    return _num(v, where, positive=True)


def _int(v, where, minimum=1):
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise ConfigError(f"{where}: expected an integer >= {minimum}, got {v!r}")
    return v


def _bool(v, where):
    if not isinstance(v, bool):
        raise ConfigError(f"{where}: expected true or false, got {v!r}")
    return v


def _optional(check):
    return lambda v, where: None if v is None else check(v, where)


def _choice(*options):
    def check(v, where):
        if v not in options:
            raise ConfigError(f"{where}: expected one of {list(options)}, got {v!r}")
        return v
    return check


def _power(v, where):
    if isinstance(v, str):
        if v.strip().lower() != "auto":
            raise ConfigError(f"{where}: expected a number >= 0 or 'auto', got {v!r}")
        return "auto"
    return _nonneg(v, where)


# -- sections --------------------------------------------------------------------------
@dataclass
class DataSection:
    train: str = _doc("training data: extended XYZ or anything ase.io.read reads (required)", _str)
    test: Optional[str] = _doc("held-out test data (optional; errors reported, not fitted)",
                               _optional(_str), default=None)
    energy_key: Optional[str] = _doc("atoms.info key (or calculator result, e.g. 'energy') of the "
                                     "total energy (eV); null = the attached calculator's free "
                                     "energy if it has one, else its energy", _optional(_str),
                                     default=None)
    forces_key: Optional[str] = _doc("atoms.arrays key of the forces (eV/A); null = calculator",
                                     _optional(_str), default=None)
    stress_key: Optional[str] = _doc("atoms.info key of the stress (eV/A^3, ASE sign, 6 or 3x3); "
                                     "null = calculator", _optional(_str), default=None)
    virial_key: Optional[str] = _doc("atoms.info key of the virial (eV; stress = -virial/V), "
                                     "instead of stress_key", _optional(_str), default=None)
    weight_key: Optional[str] = _doc("atoms.info key of a per-configuration weight", _optional(_str),
                                     default=None)
    config_type_key: str = _doc("atoms.info key of the group name", _str, default="config_type")
    isolated_atom_box: float = _doc("a 1-atom frame is an isolated atom (defines E0) if open or "
                                    "its box is at least this wide, A", _positive, default=10.0)


@dataclass
class BasisSection:
    """A preset (`size`), explicit BasisSpec fields, or a preset plus overrides."""
    size: Optional[str] = _doc(f"preset: {' | '.join(BASIS_PRESETS)} (fit/presets.py); null with "
                               "explicit fields = BasisSpec defaults", _choice(None, *BASIS_PRESETS),
                               default=DEFAULT_BASIS_SIZE)
    overrides: Dict[str, Any] = field(default_factory=dict)

    def spec_fields(self, n_elements: int = 1) -> dict:
        out = preset(self.size, n_elements) if self.size is not None else {}
        out.update(self.overrides)
        return out


def basis_keys() -> List[str]:
    """BasisSpec fields a config may set (all but elements and the fit's own product, the
    embedding weights derived from the data): defined once, in BasisSpec."""
    from ace_lin.basis.spec import BasisSpec

    return [f.name for f in fields(BasisSpec) if f.name not in ("elements", "species_weights")]


@dataclass
class WeightsSection:
    energy: float = _doc("weight of the E/N rows (times sqrt(N)), 1/(eV/atom)", _nonneg, default=30.0)
    forces: float = _doc("weight of the force rows, 1/(eV/A)", _nonneg, default=1.0)
    stress: float = _doc("weight of the stress rows (times V/N * sqrt(N)), see fit/weights.py",
                         _nonneg, default=1.0)
    config_types: Dict[str, Any] = _doc("per config_type multiplier: a number, or "
                                        "{energy, forces, stress}", None, default_factory=dict)


@dataclass
class PriorSection:
    kind: str = _doc("smoothness prior: algebraic | exponential | none", 
                     _choice("algebraic", "exponential", "none"), default="algebraic")
    p: Union[float, str] = _doc("exponent of the algebraic prior gamma = ridge + (degree/d_ref)^p, "
                                "or auto: chosen by evidence (fit/prior_search.py)", _power,
                                default="auto")
    d_ref: float = _doc("degree scale of the prior", _positive, default=1.0)
    ridge: float = _doc("constant (plain ridge) part of every gamma", _nonneg, default=1.0)


@dataclass
class SolverSection:
    kind: str = _doc("blr (evidence maximization, no parameter) | ridge | tsvd",
                     _choice("blr", "ridge", "tsvd"), default="blr")
    ridge_lambda: Optional[float] = _doc("ridge: strength (dimensionless, columns scaled); "
                                         "null = generalized cross-validation", _optional(_nonneg),
                                         default=None)
    rcond: float = _doc("tsvd: relative singular value cut-off", _positive, default=1e-8)
    max_iter: int = _doc("blr: maximum evidence iterations", _int, default=200)
    tol: float = _doc("blr: convergence tolerance on log(lambda)", _positive, default=1e-6)
    column_scaling: bool = _doc("scale basis functions to unit data norm before solving", _bool,
                                default=True)
    prior: PriorSection = field(default_factory=PriorSection,
                               metadata={"doc": "smoothness prior (fit/prior.py)"})


@dataclass
class AssemblySection:
    block_rows: Optional[int] = _doc("rows per streamed QR block; null = 256 MB of rows",
                                     _optional(_int), default=None)
    n_threads: Optional[int] = _doc("OpenMP threads of the core; null = OMP_NUM_THREADS/all",
                                    _optional(_int), default=None)
    mpi: str = _doc("auto (use mpi4py when launched by mpirun) | on | off",
                    _choice("auto", "on", "off"), default="auto")
    progress: bool = _doc("progress bar over configurations", _bool, default=False)


@dataclass
class TrustSection:
    active_set: bool = _doc("active set of the extrapolation grade, from the training "
                            "structures (trust/activeset.py)", _bool, default=True)
    posterior: bool = _doc("keep the BLR posterior for committee uncertainties "
                           "(trust/committee.py; solver blr only)", _bool, default=True)


@dataclass
class FitConfig:
    data: DataSection
    elements: Optional[List[str]] = None
    e0: Union[str, Dict[str, float]] = "auto"
    basis: BasisSection = field(default_factory=BasisSection)
    weights: WeightsSection = field(default_factory=WeightsSection)
    solver: SolverSection = field(default_factory=SolverSection)
    assembly: AssemblySection = field(default_factory=AssemblySection)
    trust: TrustSection = field(default_factory=TrustSection)
    output: str = "model.json"

    def to_dict(self) -> dict:
        from dataclasses import asdict

        d = asdict(self)
        d["basis"] = dict({"size": self.basis.size}, **self.basis.overrides)
        return d


TOP_DOCS = {
    "data": "where the DFT data are and which keys hold the quantities",
    "elements": "chemical symbols of the model; null = all elements of the training data",
    "e0": "one-body energies E0 (eV): auto (isolated-atom frames where present, otherwise "
          "fitted) | fit | {El: value, ...} (elements not given: as auto)",
    "basis": "basis preset and/or BasisSpec fields (ace_lin/basis/spec.py): " + ", ".join(basis_keys()),
    "weights": "row weights (fit/weights.py)",
    "solver": "linear solver and smoothness prior (fit/solvers.py, fit/prior.py)",
    "assembly": "streamed assembly of the least-squares system (fit/assemble.py)",
    "trust": "extrapolation grade and uncertainty kept in the model (ace_lin/trust/); the fit "
             "state for updates goes next to it (<stem>.fitstate.npz)",
    "output": "model file (JSON); the error table and parity plot are written next to it",
}


def _section(cls, raw, name):
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"section '{name}': expected a mapping, got {type(raw).__name__}")
    known = {f.name: f for f in fields(cls)}
    for key in raw:
        if key not in known:
            raise ConfigError(f"unknown key '{key}' in section '{name}' (allowed: {sorted(known)})")
    kw = {}
    for f in fields(cls):
        where = f"{name}.{f.name}"
        if f.name not in raw:
            if f.default is MISSING and f.default_factory is MISSING:
                raise ConfigError(f"missing key '{f.name}' in section '{name}'")
            continue
        value = raw[f.name]
        if f.name == "prior" and cls is SolverSection:
            value = _section(PriorSection, value, where)
        elif f.name == "config_types":
            value = _config_types(value, where)
        else:
            check = f.metadata.get("check")
            if check is not None:
                value = check(value, where)
        kw[f.name] = value
    return cls(**kw)


def _config_types(raw, where):
    from ace_lin.fit.weights import GroupWeight

    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping {{config_type: weight}}")
    out = {}
    for name, v in raw.items():
        if isinstance(v, dict):
            vals = {k: _nonneg(x, f"{where}.{name}.{k}") for k, x in v.items()}
        else:
            vals = _nonneg(v, f"{where}.{name}")
        try:
            GroupWeight.from_value(vals, name)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        out[str(name)] = vals
    return out


def _basis(raw):
    if raw is None:
        return BasisSection()
    if not isinstance(raw, dict):
        raise ConfigError("section 'basis': expected a mapping")
    allowed = ["size"] + basis_keys()
    for key in raw:
        if key not in allowed:
            raise ConfigError(f"unknown key 'basis.{key}' in section 'basis' (allowed: {allowed})")
    overrides = {k: v for k, v in raw.items() if k != "size"}
    if "size" in raw:
        size = _choice(None, *BASIS_PRESETS)(raw["size"], "basis.size")
    else:
        size = None if overrides else DEFAULT_BASIS_SIZE
    return BasisSection(size=size, overrides=overrides)


def _elements(raw):
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw or not all(isinstance(e, str) for e in raw):
        raise ConfigError(f"elements: expected a list of chemical symbols, got {raw!r}")
    from ase.data import atomic_numbers

    bad = [e for e in raw if e not in atomic_numbers or e == "X"]
    if bad:
        raise ConfigError(f"elements: unknown chemical symbol(s) {bad}")
    if len(set(raw)) != len(raw):
        raise ConfigError(f"elements: repeated symbols in {raw}")
    return list(raw)


def _e0(raw):
    if raw in ("auto", "fit"):
        return raw
    if isinstance(raw, dict) and raw:
        return {str(k): _num(v, f"e0.{k}") for k, v in raw.items()}
    raise ConfigError(f"e0: expected auto, fit or {{element: energy eV}}, got {raw!r}")


def _resolve(path, base_dir):
    if path is None or base_dir is None or os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(base_dir, path))


def config_from_dict(raw: dict, base_dir: Optional[str] = None) -> FitConfig:
    """Validate a plain dict; relative paths are taken relative to base_dir (if given)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"the configuration must be a mapping, got {type(raw).__name__}")
    top = [f.name for f in fields(FitConfig)]
    for key in raw:
        if key not in top:
            raise ConfigError(f"unknown key '{key}' at the top level (allowed: {top})")
    if "data" not in raw:
        raise ConfigError("missing section 'data' (at least data.train is needed)")
    data = _section(DataSection, raw["data"], "data")
    if data.stress_key is not None and data.virial_key is not None:
        raise ConfigError("section 'data': give stress_key or virial_key, not both")
    data.train = _resolve(data.train, base_dir)
    data.test = _resolve(data.test, base_dir)
    cfg = FitConfig(
        data=data, elements=_elements(raw.get("elements")), e0=_e0(raw.get("e0", "auto")),
        basis=_basis(raw.get("basis")),
        weights=_section(WeightsSection, raw.get("weights"), "weights"),
        solver=_section(SolverSection, raw.get("solver"), "solver"),
        assembly=_section(AssemblySection, raw.get("assembly"), "assembly"),
        trust=_section(TrustSection, raw.get("trust"), "trust"),
        output=_resolve(_str(raw.get("output", "model.json"), "output"), base_dir))
    if cfg.elements is not None and isinstance(cfg.e0, dict):
        extra = sorted(set(cfg.e0) - set(cfg.elements))
        if extra:
            raise ConfigError(f"e0: element(s) {extra} not in elements {cfg.elements}")
    return cfg


def load_config(source: Union[str, dict], base_dir: Optional[str] = None) -> FitConfig:
    """From a YAML file path or a dict."""
    if isinstance(source, dict):
        return config_from_dict(source, base_dir)
    import yaml

    if not os.path.isfile(source):
        raise ConfigError(f"{source}: no such configuration file")
    try:
        with open(source) as fh:
            raw = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {' '.join(str(exc).split())}") from None
    if raw is None:
        raise ConfigError(f"{source}: the configuration file is empty")
    try:
        return config_from_dict(raw, os.path.dirname(os.path.abspath(source)))
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


# -- the documented key list: rendered as YAML by template_yaml (`ace-lin fit --template`)
# and as Markdown by fit/config_doc.py (docs/fitting.md), so the two cannot disagree -----
SECTIONS = {"data": DataSection, "weights": WeightsSection, "solver": SolverSection,
            "assembly": AssemblySection, "trust": TrustSection}
TEMPLATE_VALUES = {"data": {"train": "train.xyz", "test": "test.xyz"}}  # example, not default
ELEMENTS_EXAMPLE = "[Si]"


def key_entries(cls):
    """(key, default, doc, subsection class or None) for each field of a section class."""
    out = []
    for f in fields(cls):
        doc = f.metadata.get("doc", "")
        if isinstance(f.default_factory, type) and is_dataclass(f.default_factory):
            out.append((f.name, None, doc, f.default_factory))  # a nested section (prior)
            continue
        if f.default is not MISSING:
            default = f.default
        elif f.default_factory is not MISSING:
            default = f.default_factory()
        else:
            default = None
        out.append((f.name, default, doc, None))
    return out


def yaml_value(v) -> str:
    """A value as it appears in the template (YAML flow style, one line)."""
    import yaml

    return yaml.safe_dump(v, default_flow_style=True).strip().removesuffix("...").strip()


def _template_section(cls, indent, values=None):
    lines = []
    for name, default, doc, sub in key_entries(cls):
        if sub is not None:
            lines.append(f"{indent}# {doc}")
            lines.append(f"{indent}{name}:")
            lines += _template_section(sub, indent + "  ")
            continue
        value = (values or {}).get(name, default)
        lines.append(f"{indent}# {doc}")
        lines.append(f"{indent}{name}: {yaml_value(value)}")
    return lines


def template_yaml() -> str:
    """A documented configuration with every key at its default (valid input for fit)."""
    out = ["# ace-lin fit configuration. Units: eV, Angstrom, eV/A, stress eV/A^3.",
           "# Relative paths are relative to this file. Unknown keys are errors.", ""]
    for name in [f.name for f in fields(FitConfig)]:
        out.append(f"# {TOP_DOCS[name]}")
        if name == "elements":
            out.append(f"elements: null        # e.g. {ELEMENTS_EXAMPLE}")
        elif name == "e0":
            out.append("e0: auto")
        elif name == "basis":
            out.append("basis:")
            out.append(f"  # preset: {' | '.join(BASIS_PRESETS)}; add BasisSpec fields to override, e.g.")
            out.append("  #   order: 4, degree: [16, 16, 12, 10], r_cut: 5.0")
            out.append("  # radii left out come from the data (fit/radii.py); r_scale left out or")
            out.append("  # 'auto' is chosen by Bayesian evidence (fit/r_scale_search.py), 'covalent' =")
            out.append("  # the sum of covalent radii, or give a length in A")
            out.append(f"  size: {DEFAULT_BASIS_SIZE}")
        elif name == "output":
            out.append("output: model.json")
        else:
            out.append(f"{name}:")
            out += _template_section(SECTIONS[name], "  ", TEMPLATE_VALUES.get(name))
        out.append("")
    return "\n".join(out)
