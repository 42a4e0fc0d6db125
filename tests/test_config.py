"""Fit configuration: defaults, presets, strict keys, clear errors, template."""
import os

import pytest
import yaml

from ace_lin.fit.config import ConfigError, basis_keys, load_config, template_yaml
from ace_lin.fit.presets import BASIS_PRESETS, DEFAULT_BASIS_SIZE, preset

MINIMAL = {"data": {"train": "train.xyz"}}


def test_minimal_config_gets_defaults():
    cfg = load_config(dict(MINIMAL))
    assert cfg.elements is None and cfg.e0 == "auto"
    assert cfg.basis.size == DEFAULT_BASIS_SIZE
    assert cfg.basis.spec_fields() == preset(DEFAULT_BASIS_SIZE)
    assert (cfg.weights.energy, cfg.weights.forces, cfg.weights.stress) == (30.0, 1.0, 1.0)
    assert cfg.solver.kind == "blr" and cfg.solver.prior.kind == "algebraic"
    assert cfg.solver.prior.p == "auto"  # chosen by evidence (fit/prior_search.py)
    assert cfg.output == "model.json"


def test_preset_plus_overrides_and_explicit_basis():
    cfg = load_config(dict(MINIMAL, basis={"size": "large", "r_cut": 6.0}))
    f = cfg.basis.spec_fields()
    assert f["r_cut"] == 6.0 and f["degree"] == preset("large")["degree"]
    cfg = load_config(dict(MINIMAL, basis={"order": 2, "degree": 8}))
    assert cfg.basis.size is None and cfg.basis.spec_fields() == {"order": 2, "degree": 8}


@pytest.mark.parametrize("raw, message", [
    (dict(MINIMAL, weights={"energie": 1}), "unknown key 'energie' in section 'weights'"),
    (dict(MINIMAL, solver={"kind": "blr", "prior": {"pp": 2}}),
     "unknown key 'pp' in section 'solver.prior'"),
    (dict(MINIMAL, basis={"size": "small", "rcut": 5}), "unknown key 'basis.rcut' in section 'basis'"),
    (dict(MINIMAL, fitting={}), "unknown key 'fitting' at the top level"),
    ({"data": {"test": "t.xyz"}}, "missing key 'train' in section 'data'"),
    ({"elements": ["Si"]}, "missing section 'data'"),
    (dict(MINIMAL, weights={"energy": "30"}), "weights.energy: expected a number"),
    (dict(MINIMAL, weights={"forces": -1}), "weights.forces: must be >= 0"),
    (dict(MINIMAL, solver={"kind": "lasso"}), "solver.kind: expected one of"),
    (dict(MINIMAL, solver={"max_iter": True}), "solver.max_iter: expected an integer"),
    (dict(MINIMAL, basis={"size": "huge"}), "basis.size: expected one of"),
    (dict(MINIMAL, elements=["Si", "Xx"]), "unknown chemical symbol"),
    (dict(MINIMAL, elements=["Si"], e0={"O": -1.0}), "e0: element(s) ['O'] not in elements"),
    (dict(MINIMAL, e0="isolated"), "e0: expected auto, fit"),
    (dict(MINIMAL, weights={"config_types": {"surf": {"energy": 1, "virial": 2}}}),
     "unknown weight key(s) ['virial']"),
    (dict(MINIMAL, assembly={"mpi": "yes"}), "assembly.mpi: expected one of"),
    (dict(MINIMAL, solver={"prior": {"p": "smooth"}}),
     "solver.prior.p: expected a number >= 0 or 'auto', got 'smooth'"),
    (dict(MINIMAL, solver={"prior": {"p": -1}}), "solver.prior.p: must be >= 0"),
    ({"data": {"train": "t.xyz", "stress_key": "s", "virial_key": "v"}}, "not both"),
])
def test_bad_configs_name_section_and_key(raw, message):
    with pytest.raises(ConfigError) as err:
        load_config(raw)
    assert message in str(err.value)


def test_paths_relative_to_yaml_file(tmp_path):
    sub = tmp_path / "cfg"
    sub.mkdir()
    (sub / "fit.yaml").write_text("data: {train: d/train.xyz, test: /abs/test.xyz}\noutput: out/m.json\n")
    cfg = load_config(str(sub / "fit.yaml"))
    assert cfg.data.train == os.path.join(str(sub), "d", "train.xyz")
    assert cfg.data.test == "/abs/test.xyz"
    assert cfg.output == os.path.join(str(sub), "out", "m.json")


def test_yaml_problems_name_the_file(tmp_path):
    (tmp_path / "bad.yaml").write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(str(tmp_path / "bad.yaml"))
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ConfigError, match="empty.yaml: the configuration file is empty"):
        load_config(str(tmp_path / "empty.yaml"))
    (tmp_path / "k.yaml").write_text("data: {train: a.xyz}\nsolver: {kind: blr, tol: 0}\n")
    with pytest.raises(ConfigError, match=r"k\.yaml: solver\.tol: must be > 0"):
        load_config(str(tmp_path / "k.yaml"))
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(str(tmp_path / "missing.yaml"))


def test_template_is_valid_and_documents_every_key():
    text = template_yaml()
    cfg = load_config(yaml.safe_load(text))
    assert cfg.data.train == "train.xyz"
    for key in ("energy_key", "virial_key", "config_types", "ridge_lambda", "column_scaling",
                "block_rows", "prior", "isolated_atom_box"):
        assert f"{key}:" in text
    comments = [l for l in text.splitlines() if l.strip().startswith("#")]
    assert len(comments) > 25


def test_basis_keys_come_from_basis_spec():
    assert set(basis_keys()) >= {"order", "degree", "r_cut", "r_in", "r_core", "w_l"}
    assert "elements" not in basis_keys()


def test_presets_build_and_have_the_documented_sizes():
    from ace_lin.basis.spec import BasisSpec

    sizes = {name: BasisSpec(elements=["Si"], **preset(name)).n_basis for name in BASIS_PRESETS}
    assert 250 <= sizes["small"] <= 400
    assert sizes["small"] < sizes["medium"] < sizes["large"]
    assert 1000 <= sizes["large"] <= 1500
    # more elements: lower degrees keep the basis from exploding (~k^order)
    two = {name: BasisSpec(elements=["W", "Be"], **preset(name, 2)).n_basis for name in BASIS_PRESETS}
    assert two["small"] < two["medium"] < two["large"] <= 2500
    # four and more elements: order-dependent degree limits (five-element alloy: under
    # 5000 functions in `small`, against 17975 with the three-element degrees)
    five = {name: BasisSpec(elements=["Al", "Cu", "Ni", "Pd", "Pt"], **preset(name, 5)).n_basis
            for name in BASIS_PRESETS}
    assert five["small"] < five["medium"] < five["large"] <= 7000 and five["small"] <= 5000
    assert preset("small", 4) == preset("small", 7)


def test_large_preset_long_range_channel_can_be_switched_off():
    from ace_lin.basis.spec import BasisSpec

    on = load_config({"data": {"train": "t.xyz"}, "basis": {"size": "large"}}).basis.spec_fields(1)
    off = load_config({"data": {"train": "t.xyz"},
                       "basis": {"size": "large", "long_r_cut": None}}).basis.spec_fields(1)
    assert BasisSpec(elements=("Si",), **on).has_long
    spec = BasisSpec(elements=("Si",), **off)
    assert not spec.has_long and spec.n_basis == 1040
