"""Active-learning building blocks: the kill-safe journal, the oracle wrapper, the config."""
import json
import os

import numpy as np
import pytest
from ase.build import bulk

from ace_lin.fit.config import ConfigError
from ace_lin.learn import config as alc
from ace_lin.learn.journal import Journal, extxyz_text
from ace_lin.learn.oracle import LabelFailure, OracleError, label, load_oracle_factory


def test_journal_drops_an_uncommitted_append_and_keeps_committed_ones(tmp_path):
    path = str(tmp_path / "data.extxyz")
    j = Journal(path)
    j.append((0, 0), "first\n")
    j.append((0, 1), "second\n")
    # a crash after writing the text of a third record but before its commit
    with open(path, "a") as fh:
        fh.write("third, never committed\n")
    j2 = Journal(path)
    assert j2.keys == [(0, 0), (0, 1)]
    assert open(path).read() == "first\nsecond\n"
    assert (0, 1) in j2 and (0, 2) not in j2
    with pytest.raises(ValueError, match="already there"):
        j2.append((0, 1), "again\n")
    j2.append((0, 2), "third\n")
    assert Journal(path).keys == [(0, 0), (0, 1), (0, 2)]


def test_journal_refuses_a_file_shortened_behind_its_back(tmp_path):
    path = str(tmp_path / "data.extxyz")
    Journal(path).append("a", "0123456789\n")
    with open(path, "w") as fh:
        fh.write("01")
    with pytest.raises(ValueError, match="shorter"):
        Journal(path)


def test_oracle_labels_with_energy_forces_and_stress():
    make = load_oracle_factory("ase.calculators.emt.EMT")
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.rattle(0.05, seed=1)
    out = label(atoms, make)
    ref = atoms.copy()
    from ase.calculators.emt import EMT

    ref.calc = EMT()
    assert out.get_potential_energy() == pytest.approx(ref.get_potential_energy(), abs=1e-12)
    assert np.allclose(out.get_forces(), ref.get_forces(), atol=1e-12)
    assert np.allclose(out.get_stress(), ref.get_stress(), atol=1e-12)
    # the labelled frame reads back from extended XYZ with the same numbers
    from io import StringIO

    from ase.io import read

    back = read(StringIO(extxyz_text(out)), format="extxyz")
    assert np.allclose(back.get_forces(), ref.get_forces(), atol=1e-8)


class FailingInit:
    """An oracle whose constructor fails (a missing executable, a bad keyword, ...)."""

    def __init__(self, **kw):
        raise TypeError(f"unexpected keyword(s) {sorted(kw)}")


def test_a_failing_oracle_is_a_recorded_failure_not_an_exception():
    atoms = bulk("Cu", "fcc", a=3.6)
    atoms.calc = None
    from ase.calculators.calculator import Calculator

    class Broken(Calculator):
        implemented_properties = ["energy", "forces"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=()):
            raise RuntimeError("SCF did not converge")

    out = label(atoms, Broken)
    assert isinstance(out, LabelFailure) and "SCF did not converge" in out.message


@pytest.mark.parametrize("path, match", [("nonexistent_module_xyz.Calc", "cannot import"),
                                         ("ase.calculators.emt.NoSuchCalc", "has no calculator"),
                                         ("EMT", "import path")])
def test_unknown_oracle_is_one_clear_error(path, match):
    with pytest.raises(OracleError, match=match):
        load_oracle_factory(path)


def test_oracle_with_bad_kwargs_fails_at_load():
    with pytest.raises(OracleError, match="unexpected keyword"):
        load_oracle_factory("test_learn_parts.FailingInit", {"no_such_option": 1})


def _raw(tmp_path):
    (tmp_path / "start.xyz").write_text(extxyz_text(bulk("Cu", "fcc", a=3.6)))
    (tmp_path / "train.xyz").write_text(extxyz_text(bulk("Cu", "fcc", a=3.6)))
    return {"fit": {"data": {"train": "train.xyz"}}, "oracle": {"calculator": "ase.calculators.emt.EMT"},
            "structures": "start.xyz", "output": "run"}


def test_config_resolves_paths_and_defaults(tmp_path):
    cfg = alc.parse(_raw(tmp_path), str(tmp_path))
    assert cfg.structures == [str(tmp_path / "start.xyz")]
    assert cfg.fit["data"]["train"] == str(tmp_path / "train.xyz")
    assert cfg.output == str(tmp_path / "run") and cfg.mode == "loop"


@pytest.mark.parametrize("change, match", [
    ({"oracle": None}, "missing key 'oracle'"),
    ({"structures": None}, "missing key 'structures'"),
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"explore": {"temperature": 300}}, "unknown key 'temperature' in section 'explore'"),
    ({"explore": {"strains": [0.7]}}, "strain is a fraction"),
    ({"threshold": 0.5}, "must be >= 1"),
    ({"mode": "sometimes"}, "mode"),
    ({"budget": 0}, "budget"),
    ({"structures": "missing.xyz"}, "file not found"),
    ({"oracle": {"calculator": "ase.calculators.emt.EMT", "kwarg": {}}}, "unknown key"),
])
def test_bad_configs_give_one_clear_error(tmp_path, change, match):
    raw = _raw(tmp_path)
    for k, v in change.items():
        if v is None:
            raw.pop(k)
        else:
            raw[k] = v
    with pytest.raises(ConfigError, match=match):
        alc.parse(raw, str(tmp_path))


def test_cli_bad_config_is_one_line_and_exit_2(tmp_path):
    import subprocess
    import sys

    raw = _raw(tmp_path)
    raw["oracle"] = {"calculator": "no_such_pkg.Calc"}
    import yaml

    (tmp_path / "al.yaml").write_text(yaml.safe_dump(raw))
    proc = subprocess.run([sys.executable, "-m", "ace_lin.cli.main", "active-learn",
                           str(tmp_path / "al.yaml")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "cannot import" in proc.stderr


def test_labels_are_the_oracles_raw_forces_even_under_an_md_constraint():
    from ase.constraints import FixCom

    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.rattle(0.1, seed=3)
    atoms.set_constraint(FixCom())
    out = label(atoms, load_oracle_factory("ase.calculators.emt.EMT"))
    from ase.calculators.emt import EMT

    ref = atoms.copy()
    ref.set_constraint()
    ref.calc = EMT()
    assert np.allclose(out.get_forces(), ref.get_forces(), atol=1e-12)
    assert not out.constraints
