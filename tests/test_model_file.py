"""Model file (ace_lin/io/model_file.py and csrc/model_file.c): exact round trip, atomic
writes, and clear refusals of bad files by both readers (the C reader through ctypes on a
library built from csrc/, so that its exact status codes are checked)."""
import ctypes
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sysconfig

import numpy as np
import pytest

from ace_lin.basis.spec import BasisSpec
from ace_lin.io import model_file as mf
from ace_lin.io.model_file import (FORMAT_NAME, FORMAT_VERSION, MIGRATIONS, ModelFileError,
                                   read_model_file, write_model_file)
from ace_lin.model import LinearACEModel, load_model

CSRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "csrc")


def c_compiler():
    """$CC, else the compiler Python was built with, else cc/gcc/clang; None if none."""
    for cmd in (os.environ.get("CC"), sysconfig.get_config_var("CC"), "cc", "gcc", "clang"):
        argv = shlex.split(cmd) if cmd else []
        if argv and shutil.which(argv[0]):
            return argv
    return None

SPECIAL = [5e-324, -0.0, 0.1, 1.0 / 3.0, 1.7976931348623157e308, 2.2250738585072014e-308,
           -1.5e-300, 123456789.12345678]


def make_model(extreme=True, seed=0, long=False):
    spec = BasisSpec(elements=("Mo", "Si"), order=2, degree=6,
                     **(dict(long_r_cut={"Mo-Mo": 6.5, "Mo-Si": 6.0, "Si-Si": 5.5}, long_degree=(5, 5))
                        if long else {}))
    rng = np.random.default_rng(seed)
    c = rng.normal(size=spec.n_basis)
    if extreme:  # every exponent range, and values whose text is delicate
        c *= np.logspace(-300, 300, spec.n_basis)
        c[:len(SPECIAL)] = SPECIAL
    else:
        c *= 0.1
    return LinearACEModel(spec, c, e0={"Mo": -10.5, "Si": -5.25},
                          metadata={"note": "r\u00e9sum\u00e9 \u2013 \U0001F600", "n": np.int64(7),
                                    "rmse": np.float32(0.25), "grid": np.arange(6.0).reshape(2, 3),
                                    "flags": [True, None, {"x": []}]})


@pytest.fixture
def document():
    return make_model().to_document()


@pytest.fixture
def model_path(tmp_path, document):
    path = tmp_path / "model.json"
    write_model_file(path, document)
    return path


def resign(data: bytes) -> bytes:
    """Re-stamp the checksum following the documented rule (independent of the module)."""
    matches = list(re.finditer(rb'"value": "([0-9a-f]{64})"', data))
    assert len(matches) == 1
    m = matches[0]
    zeroed = data[:m.start(1)] + b"0" * 64 + data[m.end(1):]
    return data[:m.start(1)] + hashlib.sha256(zeroed).hexdigest().encode() + data[m.end(1):]


# -- Python: round trip ----------------------------------------------------------------

def test_round_trip_is_exact(model_path, document):
    doc = read_model_file(model_path)
    assert doc["format"] == FORMAT_NAME and doc["format_version"] == FORMAT_VERSION
    assert doc["units"]["energy"] == "eV" and doc["units"]["length"] == "Angstrom"
    assert doc["elements"] == ["Mo", "Si"] and doc["e0"] == {"Mo": -10.5, "Si": -5.25}
    want = np.asarray(document["coefficients"], dtype=float)
    assert doc["coefficients"].dtype == np.float64
    assert np.array_equal(doc["coefficients"].view(np.int64), want.view(np.int64))  # bitwise, -0.0 too
    for key, value in document["tables"].items():
        got = doc["tables"][key]
        if isinstance(value, np.ndarray):
            assert got.dtype == (np.int64 if key == "basis_term_start" else value.dtype), key
            assert np.array_equal(got, value), key
            if value.dtype.kind == "f":
                assert np.array_equal(got.view(np.int64), value.view(np.int64)), key
        else:
            assert got == value and type(got) is int, key
    assert doc["spec"] == json.loads(json.dumps(document["spec"]))
    assert BasisSpec.from_dict(doc["spec"]) == BasisSpec.from_dict(document["spec"])
    meta = doc["metadata"]
    assert meta["note"] == document["metadata"]["note"]
    assert meta["n"] == 7 and type(meta["n"]) is int and meta["rmse"] == 0.25
    assert meta["grid"] == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert meta["flags"] == [True, None, {"x": []}]


def test_rewriting_a_read_document_gives_the_same_bytes(model_path, tmp_path):
    again = tmp_path / "again.json"
    digest = write_model_file(again, read_model_file(model_path))
    assert again.read_bytes() == model_path.read_bytes()
    assert json.loads(again.read_text())["checksum"] == {"algorithm": "sha256", "value": digest}


def test_layout_is_readable_and_checksum_follows_the_rule(model_path):
    data = model_path.read_bytes()
    text = data.decode("ascii")  # non-ASCII text is \u-escaped
    lines = text.splitlines()
    assert lines[0] == "{" and lines[1] == '  "format": "ace_lin-model",' and lines[-1] == "}"
    assert lines[-2].startswith('  "checksum": {"algorithm": "sha256", "value": "')
    assert len(lines) < 60  # one line per array
    assert any(line.startswith('    "term_factors": [') for line in lines)
    assert resign(data) == data
    top = [line.split('"')[1] for line in lines if re.match(r'^  "', line)]
    assert top == ["format", "format_version", "units", "ace_lin_version", "elements", "e0",
                   "spec", "tables", "coefficients", "active_set", "posterior", "metadata",
                   "checksum"]


def test_linear_model_save_and_load(tmp_path):
    m = make_model(extreme=False)
    m.save(tmp_path / "m.json", metadata={"fit": {"rmse_e": 0.001}})
    back = load_model(tmp_path / "m.json")
    assert np.array_equal(back.coefficients, m.coefficients)
    assert back.e0 == m.e0 and back.spec == m.spec
    assert back.metadata["fit"] == {"rmse_e": 0.001}


def _as_version_1(doc):
    """Format 1: no long-range channel keys."""
    for key in ("n_radial_long", "r_cut_long", "r_scale_long"):
        doc["tables"].pop(key)
    doc.pop("active_set")
    doc.pop("posterior")
    doc["format_version"] = 1


def test_version_1_files_are_upgraded(model_path, tmp_path):
    """A file of format 1 (before the long-range channel) reads as version 2 without one,
    and the model it gives is the one that was saved."""
    assert sorted(MIGRATIONS) == list(range(1, FORMAT_VERSION))
    old = _edit(_as_version_1)(model_path.read_bytes(), tmp_path)
    doc = read_model_file(old)
    t = doc["tables"]
    assert doc["format_version"] == FORMAT_VERSION and t["n_radial_long"] == 0
    assert np.array_equal(t["r_cut_long"], t["r_cut"]) and np.array_equal(t["r_scale_long"], t["r_scale"])
    a, b = load_model(old), load_model(model_path)
    assert np.array_equal(a.coefficients, b.coefficients) and a.spec == b.spec


def _as_version_2(doc):
    """Format 2: no active set, no posterior."""
    doc.pop("active_set")
    doc.pop("posterior")
    doc["format_version"] = 2


def test_version_2_files_migrate_with_null_trust_keys(model_path, tmp_path):
    old = _edit(_as_version_2)(model_path.read_bytes(), tmp_path)
    doc = read_model_file(old)
    assert doc["format_version"] == FORMAT_VERSION
    assert doc["active_set"] is None and doc["posterior"] is None
    m = load_model(old)
    assert not m.has_active_set and m.posterior is None
    assert np.array_equal(m.coefficients, load_model(model_path).coefficients)


def _trust_model():
    """A small model with an active set for Mo only and a posterior."""
    from ace_lin.trust.committee import Posterior

    m = make_model(extreme=False, seed=2)
    sp = np.asarray(m.basis.species)
    m_mo = int(np.sum(sp == 0))
    rng = np.random.default_rng(5)
    n = m.spec.n_basis + 1
    L = np.tril(rng.normal(size=(n, n))) * 1e-3
    post = Posterior(mean=np.r_[m.coefficients, m.e0["Si"]], factor=L, e0_elements=["Si"])
    return m.with_trust(active_set={"Mo": rng.normal(size=(m_mo, 3))}, posterior=post)


def test_active_set_and_posterior_round_trip(tmp_path):
    m = _trust_model()
    m.save(tmp_path / "t.json")
    back = load_model(tmp_path / "t.json")
    assert sorted(back.active_set) == ["Mo"]
    assert np.array_equal(back.active_set["Mo"], m.active_set["Mo"])
    assert np.array_equal(back.posterior.factor, m.posterior.factor)
    assert np.array_equal(back.posterior.mean, m.posterior.mean)
    assert back.posterior.e0_elements == ["Si"]
    doc = read_model_file(tmp_path / "t.json")
    assert doc["active_set"]["per_element"]["Mo"]["n_active"] == 3
    assert doc["posterior"]["cov_factor"].size == m.posterior.n * (m.posterior.n + 1) // 2


@pytest.mark.parametrize("mutate, fragment", [
    (lambda d: d["active_set"].update(kind="pca"), "active_set.kind"),
    (lambda d: d["active_set"]["per_element"].update(Xx={"n_active": 1, "map": [1.0]}),
     "'Xx' is not one of the model's elements"),
    (lambda d: d["active_set"]["per_element"]["Mo"]["map"].pop(), "active_set.per_element.Mo.map"),
    (lambda d: d["active_set"]["per_element"]["Mo"].update(n_active=0), "n_active"),
    (lambda d: d["active_set"]["per_element"]["Mo"].pop("map"), "missing required key"),
    (lambda d: d["active_set"].pop("per_element"), "missing required key 'active_set.per_element'"),
    (lambda d: d["posterior"]["cov_factor"].pop(), "posterior.cov_factor"),
    (lambda d: d["posterior"].update(n=3), "posterior: n = 3"),
    (lambda d: d["posterior"].update(e0_elements=["Si", "Si"]), "more than once"),
    (lambda d: d["posterior"]["mean"].__setitem__(0, 1e3), "posterior mean differs"),
    (lambda d: d.pop("posterior"), "missing required key 'posterior'"),
    (lambda d: d.update(active_set=[1, 2]), "active_set: expected null or an object"),
])
def test_bad_trust_keys_are_refused(tmp_path, mutate, fragment):
    m = _trust_model()
    m.save(tmp_path / "t.json")
    bad = _edit(mutate)((tmp_path / "t.json").read_bytes(), tmp_path)
    with pytest.raises(ModelFileError, match=re.escape(fragment)):
        load_model(bad)


def test_grade_of_a_model_without_active_set_is_a_clear_error():
    from ase.build import bulk

    from ace_lin.trust.grade import NoActiveSetError

    m = make_model(extreme=False)
    with pytest.raises(NoActiveSetError, match="no active set"):
        m.grade(bulk("Si", "diamond", 5.43))
    t = _trust_model()
    with pytest.raises(NoActiveSetError, match=r"no active set for element\(s\) \['Si'\]"):
        t.grade(bulk("Si", "diamond", 5.43))


# -- Python: writer ------------------------------------------------------------------------

@pytest.mark.parametrize("where, value, fragment", [
    ("coefficients", np.nan, "coefficients[3] is nan"),
    ("coefficients", np.inf, "coefficients[3] is inf"),
    ("e0", np.nan, "e0.Si"),
    ("metadata", float("-inf"), "metadata.bad"),
    ("r_cut", np.nan, "tables.r_cut[3]"),
])
def test_writer_refuses_non_finite_numbers(tmp_path, document, where, value, fragment):
    if where == "coefficients":
        c = np.array(document["coefficients"])
        c[3] = value
        document["coefficients"] = c
    elif where == "e0":
        document["e0"]["Si"] = value
    elif where == "metadata":
        document["metadata"]["bad"] = [1.0, {"deeper": value}]
        fragment = "metadata.bad[1].deeper"
    else:
        r = np.array(document["tables"]["r_cut"])
        r[3] = value
        document["tables"]["r_cut"] = r
    path = tmp_path / "m.json"
    with pytest.raises(ModelFileError, match="NaN|Inf|nan|inf") as exc:
        write_model_file(path, document)
    assert fragment in str(exc.value) and str(path) in str(exc.value)
    assert not path.exists() and os.listdir(tmp_path) == []


@pytest.mark.parametrize("mutate, fragment", [
    (lambda d: d.pop("tables"), "missing required key 'tables'"),
    (lambda d: d.pop("metadata"), "missing required key 'metadata'"),
    (lambda d: d["tables"].pop("lmax"), "missing required key 'tables.lmax'"),
    (lambda d: d["e0"].pop("Mo"), "missing required key 'e0.Mo'"),
    (lambda d: d.update(format_version=FORMAT_VERSION + 1), "'format_version' is set by the writer"),
    (lambda d: d.update(extra=1), "unknown top-level key(s) ['extra']"),
    (lambda d: d["tables"].update(zbl=[1.0]), "unknown table(s) ['zbl']"),
    (lambda d: d["tables"].update(nl_n=np.array(d["tables"]["nl_n"], dtype=float)),
     "tables.nl_n: expected integers"),
    (lambda d: d["tables"].update(term_factors=d["tables"]["term_factors"].reshape(-1, 5)),
     "tables.term_factors: expected a flat array"),
    (lambda d: d.update(coefficients=d["coefficients"][:-1]), "tables.basis_species: expected"),
    (lambda d: d["metadata"].update(blob=object()), "metadata.blob: cannot store a value of type object"),
    (lambda d: d["metadata"].update({1: 2}), "object keys must be strings"),
    (lambda d: d["metadata"].update(h={"value": "ab" * 32}), "reserved for the checksum"),
    (lambda d: d["metadata"].update(s="\ud800"), "lone surrogate"),
])
def test_writer_validates_the_document(tmp_path, document, mutate, fragment):
    mutate(document)
    with pytest.raises(ModelFileError) as exc:
        write_model_file(tmp_path / "m.json", document)
    assert fragment in str(exc.value)
    assert os.listdir(tmp_path) == []


def test_writer_refuses_circular_metadata(tmp_path, document):
    loop = []
    loop.append(loop)
    document["metadata"]["loop"] = loop
    with pytest.raises(ModelFileError, match="nested deeper"):
        write_model_file(tmp_path / "m.json", document)


def _only_the_model(directory, name="model.json"):
    assert sorted(os.listdir(directory)) == [name], "a temporary file was left behind"


@pytest.mark.parametrize("module, name, error", [
    (mf, "_render", RuntimeError("serialisation failed")),
    (os, "fsync", OSError(5, "simulated I/O error")),
    (os, "replace", KeyboardInterrupt()),  # interrupted after the data went to the temporary file
])
def test_failed_write_leaves_the_old_file(model_path, monkeypatch, module, name, error):
    old = model_path.read_bytes()

    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(module, name, broken)
    with pytest.raises(type(error)):
        write_model_file(model_path, make_model(seed=1).to_document())
    monkeypatch.undo()
    assert model_path.read_bytes() == old
    assert sorted(os.listdir(model_path.parent)) == ["model.json"], "a temporary file was left behind"
    read_model_file(model_path)


def test_new_file_follows_the_umask_and_missing_directory_is_reported(tmp_path, document):
    mask = os.umask(0o022)
    os.umask(mask)
    path = tmp_path / "m.json"
    write_model_file(path, document)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~mask
    missing = tmp_path / "no" / "such" / "m.json"
    with pytest.raises(FileNotFoundError) as exc:
        write_model_file(missing, document)
    assert str(missing) in str(exc.value)


# -- bad files, for both readers -----------------------------------------------------------
# each case: (name, make(good_bytes, tmp_path) -> path, python fragment or None if the
# Python reader accepts it, C status, C fragment)

IO, INVALID, FORMAT, CHECKSUM, VERSION = 4, 2, 5, 6, 7


def _write(tmp_path, data, name="bad.json"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _edit(mutate, sign=True):
    """A file whose parsed document was changed by mutate, re-signed unless sign=False."""
    def make(good, tmp_path):
        doc = json.loads(good)
        mutate(doc)
        data = (json.dumps(doc, indent=1) + "\n").encode()
        return _write(tmp_path, resign(data) if sign else data)
    return make


def _text(change, sign=True):
    def make(good, tmp_path):
        data = change(good)
        return _write(tmp_path, resign(data) if sign else data)
    return make


def _corrupt_digit(good):
    start = good.index(b'\n  "coefficients": [') + 20
    at = start + re.search(rb"[0-9]", good[start:]).start()
    return good[:at] + (b"2" if good[at:at + 1] == b"1" else b"1") + good[at + 1:]


def _swap_term_start(doc):
    ts = doc["tables"]["basis_term_start"]
    k = next(i for i in range(1, len(ts) - 2) if ts[i] != ts[i + 1])
    ts[k], ts[k + 1] = ts[k + 1], ts[k]


def _set(section, key, fn):
    def mutate(doc):
        target = doc[section] if section else doc
        target[key] = fn(target[key])
    return mutate


CASES = [
    ("missing", lambda good, tmp: tmp / "does_not_exist.json", "model file not found", IO, "No such file"),
    ("directory", lambda good, tmp: tmp, "cannot read model file", IO, "cannot read model file"),
    ("empty", lambda good, tmp: _write(tmp, b""), "the model file is empty", FORMAT, "is empty"),
    ("truncated", lambda good, tmp: _write(tmp, good[:len(good) // 2]), "truncated", FORMAT, "truncated"),
    ("truncated_end", lambda good, tmp: _write(tmp, good[:-3]), "truncated", FORMAT, "truncated"),
    ("not_json", lambda good, tmp: _write(tmp, b"\x89PNG\r\n\x1a\n"), "not a valid model file",
     FORMAT, "invalid JSON at byte 0"),
    ("not_object", lambda good, tmp: _write(tmp, b"[1, 2]\n"), "not an ace_lin model file", FORMAT,
     "not an ace_lin model file"),
    ("wrong_format", _edit(_set(None, "format", lambda v: "other-model")), "not an ace_lin model file",
     FORMAT, "not an ace_lin model file"),
    ("no_format", _edit(lambda d: d.pop("format")), "missing required key 'format'", FORMAT, "'format'"),
    ("newer_version", _edit(_set(None, "format_version", lambda v: FORMAT_VERSION + 1)), "written by a newer ace_lin",
     VERSION, f"format_version {FORMAT_VERSION + 1} was written by a newer ace_lin; this core reads "
     f"format_version <= {FORMAT_VERSION}"),
    ("older_version", _edit(_set(None, "format_version", lambda v: 0)), "not supported", FORMAT,
     "format_version 0 is not valid"),
    ("version_float", _edit(_set(None, "format_version", lambda v: 1.0)), "format_version: expected an integer",
     FORMAT, "format_version: expected an integer"),
    ("corrupt_digit", _text(_corrupt_digit, sign=False), "checksum mismatch: the file is corrupted",
     CHECKSUM, "checksum mismatch: the file is corrupted"),
    ("reformatted", _text(lambda g: g.replace(b'"value": "', b'"value":"'), sign=False),
     "cannot verify the checksum", CHECKSUM, "cannot verify the checksum"),
    ("two_values", _text(lambda g: g.replace(b'"metadata": {', b'"metadata": {\n    "x": {"value": "'
                                             + b"a" * 64 + b'"},', 1), sign=False),
     "occurs 2 times", CHECKSUM, "occurs 2 times"),
    ("no_checksum", _edit(lambda d: d.pop("checksum"), sign=False), "missing required key 'checksum'",
     FORMAT, "missing required key 'checksum'"),
    ("md5", _edit(lambda d: d["checksum"].update(algorithm="md5")), "checksum.algorithm", FORMAT,
     "checksum.algorithm"),
    ("no_tables_lmax", _edit(lambda d: d["tables"].pop("lmax")), "missing required key 'tables.lmax'",
     FORMAT, "missing required key 'tables.lmax'"),
    ("no_metadata", _edit(lambda d: d.pop("metadata")), "missing required key 'metadata'", FORMAT,
     "missing required key 'metadata'"),
    ("no_units", _edit(lambda d: d.pop("units")), "missing required key 'units'", FORMAT,
     "missing required key 'units'"),
    ("no_e0_entry", _edit(lambda d: d["e0"].pop("Si")), "missing required key 'e0.Si'", FORMAT,
     "missing required key 'e0.Si'"),
    ("extra_e0_entry", _edit(lambda d: d["e0"].update(W=1.0)), "'W' is not one of the model's elements",
     FORMAT, "'W' is not one of the model's elements"),
    ("bad_units", _edit(lambda d: d["units"].update(length="Bohr")), "units", FORMAT, "units.length"),
    ("duplicate_element", _edit(_set(None, "elements", lambda v: ["Mo", "Mo"])), "elements", FORMAT,
     "elements: 'Mo' appears twice"),
    ("r_cut_length", _edit(_set("tables", "r_cut", lambda v: v[:3])),
     "tables.r_cut: expected 4 entries (ns*ns), got 3", FORMAT, "tables.r_cut (ns*ns): expected 4 entries, got 3"),
    ("n_basis", _edit(_set(None, "coefficients", lambda v: v[:-1])), "tables.basis_species: expected",
     FORMAT, "tables.basis_species (n_basis = len(coefficients)): expected"),
    ("term_start_end", _edit(lambda d: d["tables"]["basis_term_start"].__setitem__(-1, 10**6)),
     "basis_term_start must run from 0 to n_terms", FORMAT, "basis_term_start must run from 0 to n_terms"),
    ("term_start_order", _edit(_swap_term_start), "basis_term_start decreases", FORMAT,
     "basis_term_start decreases"),
    ("term_factors_length", _edit(_set("tables", "term_factors", lambda v: v[:-1])),
     "tables.term_factors", FORMAT, "tables.term_factors (n_terms * 5)"),
    ("nl_l_length", _edit(_set("tables", "nl_l", lambda v: v[1:])), "tables.nl_l", FORMAT, "tables.nl_l"),
    ("float_for_int", _edit(_set("tables", "transform_power", lambda v: 2.0)), "tables.transform_power",
     FORMAT, "tables.transform_power: expected an integer"),
    ("bool_in_array", _edit(lambda d: d["tables"]["atomic_numbers"].__setitem__(0, True)),
     "tables.atomic_numbers", FORMAT, "tables.atomic_numbers[0]: expected an integer, got a boolean"),
    ("string_in_array", _edit(lambda d: d["coefficients"].__setitem__(5, "1.0")), "coefficients",
     FORMAT, "coefficients[5]: expected a number, got a string"),
    ("nan_text", _text(lambda g: re.sub(rb'("coefficients": \[)[^,]*', rb"\1NaN", g, count=1)),
     "NaN", FORMAT, "invalid JSON at byte"),
    ("duplicate_key", _text(lambda g: g.replace(b'  "elements":', b'  "elements": ["W"],\n  "elements":', 1)),
     "duplicate object key 'elements'", FORMAT, "duplicate object key \"elements\""),
    # shapes are fine, values are not: only acelin_model_create knows (r_in must be < r_cut)
    ("r_in_beyond_r_cut", _edit(lambda d: d["tables"]["r_in"].__setitem__(0, 6.0)), None, INVALID,
     "invalid model: pair 0"),
]


@pytest.mark.parametrize("name, make, py_fragment, c_status, c_fragment", CASES, ids=[c[0] for c in CASES])
def test_python_reader_refuses_bad_files(tmp_path, model_path, name, make, py_fragment, c_status, c_fragment):
    path = make(model_path.read_bytes(), tmp_path)
    if py_fragment is None:
        read_model_file(path)  # value checks belong to the basis / C core, not the file reader
        return
    with pytest.raises(ModelFileError) as exc:
        read_model_file(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: ") and py_fragment in msg, msg
    if name == "newer_version":
        assert "upgrade" in msg


# -- the C reader -------------------------------------------------------------------------

_P = ctypes.POINTER
TABLE_FIELDS = [("n_species", ctypes.c_int), ("elements", _P(ctypes.c_char_p)), ("atomic_numbers", _P(ctypes.c_int))] \
    + [(k, _P(ctypes.c_double)) for k in ("e0", "r_cut", "r_in", "r_core", "r_scale")] \
    + [(k, ctypes.c_int) for k in ("transform_power", "n_radial", "lmax", "n_nl")] \
    + [(k, _P(ctypes.c_int)) for k in ("nl_n", "nl_l")] + [("n_basis", ctypes.c_int)] \
    + [(k, _P(ctypes.c_int)) for k in ("basis_species", "basis_nu")] \
    + [("basis_term_start", _P(ctypes.c_int64)), ("n_terms", ctypes.c_int64), ("term_coupling", _P(ctypes.c_double)),
       ("term_factors", _P(ctypes.c_int)), ("coefficients", _P(ctypes.c_double)),
       ("n_radial_long", ctypes.c_int), ("r_cut_long", _P(ctypes.c_double)), ("r_scale_long", _P(ctypes.c_double)),
       ("active_n", _P(ctypes.c_int)), ("active_map", _P(_P(ctypes.c_double)))]  # NULL: no active set


class Tables(ctypes.Structure):
    """acelin_tables of csrc/acelin.h, field by field"""
    _fields_ = TABLE_FIELDS


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    """The C core as a shared library built from csrc/ (no Python wrapper involved)."""
    if not os.path.exists(os.path.join(CSRC, "model.c")):
        pytest.skip("csrc/model.c (acelin_model_create) does not exist yet")
    cc = c_compiler()
    if cc is None:
        pytest.skip("no C compiler found ($CC, sysconfig CC, cc, gcc, clang)")
    gen = os.path.join(CSRC, "generated")
    if not os.path.exists(os.path.join(gen, "acelin_ylm4.h")):
        from ace_lin.codegen.generated import write_generated_sources

        gen = str(tmp_path_factory.mktemp("generated"))
        write_generated_sources(gen)
    sources = sorted(os.path.join(CSRC, f) for f in os.listdir(CSRC) if f.endswith(".c"))
    sources += sorted(os.path.join(gen, f) for f in os.listdir(gen) if f.endswith(".c"))
    lib = tmp_path_factory.mktemp("core") / "libacelin_test.so"
    res = subprocess.run(cc + ["-std=c99", "-O1", "-fPIC", "-shared", "-I" + CSRC, "-I" + gen]
                         + sources + ["-o", str(lib), "-lm"], capture_output=True, text=True)
    assert res.returncode == 0, f"building the C core failed:\n{res.stderr}"
    so = ctypes.CDLL(str(lib))
    vp, cp, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
    so.acelin_model_load.argtypes = [cp, ctypes.POINTER(vp), cp, sz]
    so.acelin_model_create.argtypes = [ctypes.POINTER(Tables), ctypes.POINTER(vp), cp, sz]
    so.acelin_model_free.argtypes = [vp]
    so.acelin_model_n_species.argtypes = so.acelin_model_n_basis.argtypes = [vp]
    so.acelin_model_element.argtypes = [vp, ctypes.c_int]
    so.acelin_model_element.restype = cp
    so.acelin_model_cutoff.argtypes = [vp, ctypes.c_int, ctypes.c_int]
    so.acelin_model_cutoff.restype = ctypes.c_double
    so.acelin_compute.argtypes = [vp, ctypes.c_int] + [vp] * 6 + [ctypes.c_int, cp, sz]
    return so


def c_load(core, path):
    """(status, message, model handle or None)"""
    model, err = ctypes.c_void_p(), ctypes.create_string_buffer(1024)
    st = core.acelin_model_load(os.fsencode(path), ctypes.byref(model), err, len(err))
    if st != 0:
        assert not model.value, "a failed load must leave *out NULL"
    return st, err.value.decode(), model if st == 0 else None


def test_c_reader_loads_python_written_file(core, model_path, document):
    st, msg, model = c_load(core, model_path)
    assert st == 0, msg
    try:
        assert core.acelin_model_n_species(model) == 2
        assert core.acelin_model_n_basis(model) == len(document["coefficients"])
        assert [core.acelin_model_element(model, s) for s in (0, 1)] == [b"Mo", b"Si"]
        assert core.acelin_model_cutoff(model, 0, 1) == 5.0
    finally:
        core.acelin_model_free(model)


@pytest.mark.parametrize("name, make, py_fragment, c_status, c_fragment", CASES, ids=[c[0] for c in CASES])
def test_c_reader_refuses_bad_files(core, tmp_path, model_path, name, make, py_fragment, c_status, c_fragment):
    path = make(model_path.read_bytes(), tmp_path)
    st, msg, _ = c_load(core, path)
    assert st == c_status, msg
    assert msg.startswith(f"{path}: ") and c_fragment in msg, msg


def _energies(core, model, species, pos):
    """acelin_compute over all pairs of a small cluster (CSR neighbour lists)."""
    n = len(species)
    start, nsp, dr = [0], [], []
    for i in range(n):
        for j in range(n):
            if i != j:
                nsp.append(species[j])
                dr.extend(pos[j] - pos[i])
        start.append(len(nsp))
    arrays = [np.asarray(species, np.int32), np.asarray(start, np.int64), np.asarray(nsp, np.int32),
              np.asarray(dr, np.float64), np.zeros(n), np.zeros(3 * len(nsp))]
    err = ctypes.create_string_buffer(512)
    st = core.acelin_compute(model, n, *[a.ctypes.data for a in arrays], 1, err, len(err))
    assert st == 0, err.value
    return arrays[4], arrays[5]


def test_c_reader_reproduces_the_in_memory_model_exactly(core, tmp_path):
    """Energies and gradients of the loaded model equal, bit for bit, those of the model
    created from the in-memory tables: every number was parsed exactly."""
    m = make_model(extreme=False, seed=3, long=True)
    assert m.spec.n_radial_long == 5
    m.save(tmp_path / "m.json")
    doc = m.to_document()
    t = doc["tables"]
    keep = {k: np.ascontiguousarray(v, dtype={"f": np.float64, "i": np.int32}[v.dtype.kind])
            for k, v in t.items() if isinstance(v, np.ndarray)}
    keep["basis_term_start"] = keep["basis_term_start"].astype(np.int64)
    keep["e0"] = np.array([doc["e0"][e] for e in doc["elements"]])
    keep["coefficients"] = np.ascontiguousarray(doc["coefficients"], dtype=np.float64)
    tab = Tables(n_species=2, elements=(ctypes.c_char_p * 2)(b"Mo", b"Si"), n_nl=keep["nl_n"].size,
                 n_basis=keep["coefficients"].size, n_terms=keep["term_coupling"].size,
                 **{k: t[k] for k in ("transform_power", "n_radial", "lmax", "n_radial_long")})
    for key, arr in keep.items():
        setattr(tab, key, arr.ctypes.data_as(dict(TABLE_FIELDS)[key]))
    direct, err = ctypes.c_void_p(), ctypes.create_string_buffer(512)
    assert core.acelin_model_create(ctypes.byref(tab), ctypes.byref(direct), err, 512) == 0, err.value
    st, msg, loaded = c_load(core, tmp_path / "m.json")
    assert st == 0, msg
    try:
        species, pos = [0, 1, 1, 0, 1], np.random.default_rng(0).uniform(0, 4.5, size=(5, 3))
        e1, g1 = _energies(core, direct, species, pos)
        e2, g2 = _energies(core, loaded, species, pos)
        assert np.any(e1 != keep["e0"][species])  # the ACE part contributes
        assert np.array_equal(e1, e2) and np.array_equal(g1, g2)
    finally:
        core.acelin_model_free(direct)
        core.acelin_model_free(loaded)


def _long_entry(t, a):
    """Whether atomic-base entry a (file indexing) belongs to the long-range channel."""
    off = np.cumsum([0] + [2 * int(l) + 1 for l in t["nl_l"]])
    k = int(np.searchsorted(off, int(a) % off[-1], side="right")) - 1
    return int(t["nl_n"][k]) > int(t["n_radial"])


@pytest.mark.parametrize("defect", ["mixed", "short_after_long"])
def test_c_reader_refuses_misplaced_long_range_invariants(core, tmp_path, defect):
    """An invariant must use one channel only, and a species' long-range invariants must
    follow its short ones: the evaluator skips the short part for far neighbours."""
    m = make_model(extreme=False, seed=3, long=True)
    m.save(tmp_path / "m.json")
    doc = json.loads((tmp_path / "m.json").read_bytes())
    t = doc["tables"]
    factors, start, nu = t["term_factors"], t["basis_term_start"], t["basis_nu"]
    species = t["basis_species"]
    block = sum(2 * l + 1 for l in t["nl_l"])  # atomic-base entries per neighbour species
    # the last invariant of species 0: long (the generator appends the long ones)
    b = max(i for i, s in enumerate(species) if s == 0)
    assert _long_entry(t, factors[start[b] * 5])
    short_entry = next(a for a in range(block) if not _long_entry(t, a))  # species 0's block
    for term in range(start[b], start[b + 1]):
        ks = [0] if defect == "mixed" else range(nu[b])
        for k in ks:
            factors[term * 5 + k] = short_entry
    if defect == "mixed":
        assert nu[b] >= 2  # some factors stay long
    data = resign((json.dumps(doc, indent=1) + "\n").encode())
    (tmp_path / "bad.json").write_bytes(data)
    st, msg, _ = c_load(core, tmp_path / "bad.json")
    assert st == INVALID, msg
    want = "mixes the short and long-range channels" if defect == "mixed" else "must follow its short ones"
    assert want in msg, msg
