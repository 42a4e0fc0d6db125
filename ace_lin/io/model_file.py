"""The ace_lin model file: one JSON document, versioned and checksummed.

Written here, read here and by the C core (csrc/model_file.c, used by the LAMMPS plugin
without Python). Layout of format_version 4, one top-level key per line:

    format          "ace_lin-model"
    format_version  4 (version 2 added the long-range channel: tables.n_radial_long,
                    r_cut_long, r_scale_long; version 3 the keys active_set and
                    posterior, null in upgraded older files; version 4 the optional
                    tables.radial_weights of contracted radial channels)
    units           {"energy": "eV", "length": "Angstrom", "force": "eV/Angstrom",
                     "stress": "eV/Angstrom^3"}
    ace_lin_version version of the writer (informational)
    elements        chemical symbols; their order defines the species indices
    e0              {element: one-body energy, eV}, one entry per element
    spec            the basis specification (free-form object; the C core ignores it)
    tables          the arrays of acelin_tables (csrc/acelin.h), one line per array;
                    radial_weights (optional: contracted channels) is flat,
                    [ns*ns * n_nl * (n_radial + n_radial_long)]
    coefficients    [n_basis] linear coefficients, eV
    active_set      null, or the extrapolation grade's maps (ace_lin/trust/activeset.py):
                    {"kind": "maxvol", "per_element": {El: {"n_active": r,
                    "map": [m*r floats]}}}, G = map as an m x r matrix (row-major), m the
                    number of invariants centred on El (tables.basis_species), in
                    increasing basis index; grade = max_j |sum_k B[k] G[k, j]| of the
                    per-atom basis vector B. Elements absent: no grade for them.
    posterior       null, or the Bayesian posterior of the fit (ace_lin/trust/committee.py):
                    {"n": n, "columns": n (= n_basis + len(e0_elements)), "e0_elements":
                    [El, ...] (fitted E0 columns, after the basis), "mean": [n floats],
                    "cov_factor": [n(n+1)/2 floats]}: lower-triangular L packed row by row
                    (L00, L10, L11, L20, ...), covariance L L^T in eV (the C core skips it)
    metadata        free-form object (the C core ignores it)
    checksum        {"algorithm": "sha256", "value": "<64 lowercase hex>"}, written last

Checksum rule: sha256 of the exact file bytes in which the 64 hex digits of
checksum.value are replaced by 64 '0' characters. The text '"value": "<64 hex>"' must
occur exactly once in the file, so a reader locates it without re-serialising; the
writer refuses documents that would contain it twice. Floats are written with repr()
(shortest text that round-trips exactly), integers as integers.

Readers require every key above ("never guess a default") and ignore keys they do not
know; a change of meaning must bump FORMAT_VERSION. Files written by a newer format
are refused with a request to upgrade. Older formats are upgraded on reading through
MIGRATIONS: MIGRATIONS[v] is a function taking the parsed (checksum-verified) document
of format_version v and returning the equivalent document of version v + 1; the chain
is applied until FORMAT_VERSION is reached; a version below FORMAT_VERSION without a
migration is refused.
"""
import hashlib
import json
import math
import os
import re
from collections.abc import Mapping

import numpy as np

from ace_lin.io.atomic import atomic_write

FORMAT_NAME = "ace_lin-model"
FORMAT_VERSION = 4
UNITS = {"energy": "eV", "length": "Angstrom", "force": "eV/Angstrom", "stress": "eV/Angstrom^3"}


def _v1_to_v2(doc):
    """Version 1 had no long-range channel: n_radial_long = 0 (its arrays are then unused)."""
    tables = dict(doc.get("tables") or {})
    if isinstance(doc.get("tables"), Mapping):
        tables.setdefault("n_radial_long", 0)
        tables.setdefault("r_cut_long", tables.get("r_cut"))
        tables.setdefault("r_scale_long", tables.get("r_scale"))
        doc = dict(doc, tables=tables)
    return doc


def _v2_to_v3(doc):
    """Version 2 had no active set and no posterior."""
    out = {}
    for k, v in doc.items():  # keep the key order of the layout
        if k == "metadata":
            out.setdefault("active_set", None)
            out.setdefault("posterior", None)
        out[k] = v
    out.setdefault("active_set", None)
    out.setdefault("posterior", None)
    return out


def _v3_to_v4(doc):
    """Version 4 only added the optional tables.radial_weights: nothing changes."""
    return doc


MIGRATIONS = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4}

NU_MAX = 5  # ACELIN_NU_MAX in csrc/acelin.h: term_factors has NU_MAX entries per term

_REQUIRED = ("ace_lin_version", "elements", "e0", "spec", "tables", "coefficients",
             "active_set", "posterior", "metadata")
_TOP_ORDER = ("format", "format_version", "units") + _REQUIRED + ("checksum",)
# tables in file order with their kind; int limits are those of the C reader
_TABLES = (("atomic_numbers", "int32"), ("r_cut", "float"), ("r_in", "float"),
           ("r_core", "float"), ("r_scale", "float"), ("transform_power", "scalar"),
           ("n_radial", "scalar"), ("lmax", "scalar"), ("nl_n", "int32"), ("nl_l", "int32"),
           ("basis_species", "int32"), ("basis_nu", "int32"), ("basis_term_start", "int64"),
           ("term_coupling", "float"), ("term_factors", "int32"), ("n_radial_long", "scalar"),
           ("r_cut_long", "float"), ("r_scale_long", "float"))
_INT_LIMITS = {"int32": 2**31 - 1, "int64": 2**53}  # 2^53: the integers a double holds exactly
_MAX_DEPTH = 64  # the C parser refuses nesting deeper than 128
_VALUE_RE = re.compile(rb'"value": "([0-9a-f]{64})"')
_HEX64 = re.compile(r"[0-9a-f]{64}")


class ModelFileError(ValueError):
    """A model file (or a document to be written as one) is missing, malformed,
    corrupted or from a newer ace_lin. The message names the file and the problem."""


# -- validation and normalisation (shared by the writer and the reader) -----------------

def _is_int(x):
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _array(value, kind, name, fail):
    """value as a flat numpy array of the kind's dtype, or fail(message)."""
    if isinstance(value, (str, bytes, Mapping)):
        fail(f"{name}: expected an array, got {type(value).__name__}")
    if isinstance(value, (list, tuple)) and bool in set(map(type, value)):
        fail(f"{name}: booleans are not numbers")  # numpy would silently take them as 0/1
    try:
        a = np.asarray(value)
    except (TypeError, ValueError):
        fail(f"{name}: expected a flat array of numbers")
    if a.ndim != 1:
        fail(f"{name}: expected a flat array, got shape {a.shape}")
    if kind == "float":
        if a.size and a.dtype.kind not in "iuf":
            fail(f"{name}: expected numbers, got {a.dtype}")
        a = np.array(a, dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(a))
        if bad.size:
            fail(f"{name}[{bad[0]}] is {a[bad[0]]}: NaN and Inf are not allowed")
        return a
    if a.size == 0:
        return np.zeros(0, dtype=np.int64 if kind == "int64" else np.int32)
    if a.dtype.kind not in "iu":
        fail(f"{name}: expected integers, got {a.dtype}")
    hi_lim = _INT_LIMITS[kind]
    lo_lim = -hi_lim - 1 if kind == "int32" else -hi_lim
    lo, hi = int(a.min()), int(a.max())
    if lo < lo_lim or hi > hi_lim:
        fail(f"{name}: integer {lo if lo < lo_lim else hi} is outside [{lo_lim}, {hi_lim}]")
    return a.astype(np.int64 if kind == "int64" else np.int32)


def _length(a, n, name, what, fail):
    if a.size != n:
        fail(f"{name}: expected {n} entries ({what}), got {a.size}")


def _check_document(doc, fail):
    """Validate keys, types and shapes; returns a new dict with the known entries
    normalised (numpy arrays with the C reader's dtypes, floats, ints)."""
    for key in _REQUIRED:
        if key not in doc:
            fail(f"missing required key '{key}'")
    out = dict(doc)
    if not isinstance(doc["ace_lin_version"], str):
        fail("ace_lin_version: expected a string")
    for key in ("spec", "metadata"):
        if not isinstance(doc[key], Mapping):
            fail(f"{key}: expected an object, got {type(doc[key]).__name__}")
    els = doc["elements"]
    if isinstance(els, (str, bytes)) or not hasattr(els, "__len__") or len(els) == 0:
        fail("elements: expected a non-empty array of chemical symbols")
    els = list(els)
    for k, e in enumerate(els):
        if not isinstance(e, str) or not e or "\0" in e:
            fail(f"elements[{k}]: expected a chemical symbol, got {e!r}")
    dup = sorted({e for e in els if els.count(e) > 1})
    if dup:
        fail(f"elements: {dup} appear more than once")
    out["elements"] = [str(e) for e in els]
    ns = len(els)

    e0 = doc["e0"]
    if not isinstance(e0, Mapping):
        fail("e0: expected an object {element: eV}")
    extra = [k for k in e0 if k not in els]
    if extra:
        fail(f"e0: {extra[0]!r} is not one of the model's elements {els}")
    out["e0"] = {}
    for e in els:
        if e not in e0:
            fail(f"missing required key 'e0.{e}'")
        v = e0[e]
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
            fail(f"e0.{e}: expected a number, got {v!r}")
        if not np.isfinite(v):
            fail(f"e0.{e} is {v}: NaN and Inf are not allowed")
        out["e0"][e] = float(v)

    tables = doc["tables"]
    if not isinstance(tables, Mapping):
        fail("tables: expected an object")
    t = dict(tables)
    for key, kind in _TABLES:
        name = f"tables.{key}"
        if key not in tables:
            fail(f"missing required key '{name}'")
        if kind == "scalar":
            v = tables[key]
            if not _is_int(v) or not -2**31 <= int(v) < 2**31:
                fail(f"{name}: expected an integer, got {v!r}")
            t[key] = int(v)
        else:
            t[key] = _array(tables[key], kind, name, fail)
    coef = _array(doc["coefficients"], "float", "coefficients", fail)
    out["coefficients"] = coef
    nb, nt = coef.size, t["term_coupling"].size
    _length(t["atomic_numbers"], ns, "tables.atomic_numbers", "one per element", fail)
    for key in ("r_cut", "r_in", "r_core", "r_scale", "r_cut_long", "r_scale_long"):
        _length(t[key], ns * ns, f"tables.{key}", "ns*ns", fail)
    _length(t["nl_l"], t["nl_n"].size, "tables.nl_l", "same length as nl_n", fail)
    if tables.get("radial_weights") is not None:
        t["radial_weights"] = w = _array(tables["radial_weights"], "float", "tables.radial_weights", fail)
        _length(w, ns * ns * t["nl_n"].size * (t["n_radial"] + t["n_radial_long"]),
                "tables.radial_weights", "ns*ns * n_nl * (n_radial + n_radial_long)", fail)
    else:
        t.pop("radial_weights", None)
    for key in ("basis_species", "basis_nu"):
        _length(t[key], nb, f"tables.{key}", "n_basis = len(coefficients)", fail)
    ts = t["basis_term_start"]
    _length(ts, nb + 1, "tables.basis_term_start", "n_basis + 1", fail)
    _length(t["term_factors"], nt * NU_MAX, "tables.term_factors", f"n_terms * {NU_MAX}", fail)
    if ts[0] != 0 or ts[-1] != nt:
        fail(f"tables.basis_term_start must run from 0 to n_terms = {nt} (got {ts[0]} .. {ts[-1]})")
    dec = np.flatnonzero(np.diff(ts) < 0)
    if dec.size:
        fail(f"tables.basis_term_start decreases at entry {dec[0] + 1}")
    out["tables"] = t
    out["active_set"] = _check_active_set(doc["active_set"], els, t["basis_species"], fail)
    out["posterior"] = _check_posterior(doc["posterior"], els, nb, fail)
    return out


def _count(value, name, fail, minimum=1):
    if not _is_int(value) or not minimum <= int(value) < 2**31:
        fail(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_active_set(aset, els, basis_species, fail):
    if aset is None:
        return None
    if not isinstance(aset, Mapping):
        fail(f"active_set: expected null or an object, got {type(aset).__name__}")
    for key in ("kind", "per_element"):
        if key not in aset:
            fail(f"missing required key 'active_set.{key}'")
    if aset["kind"] != "maxvol":
        fail(f"active_set.kind: expected \"maxvol\", got {aset['kind']!r}")
    per = aset["per_element"]
    if not isinstance(per, Mapping):
        fail("active_set.per_element: expected an object {element: {n_active, map}}")
    out = {}
    for el, entry in per.items():
        name = f"active_set.per_element.{el}"
        if el not in els:
            fail(f"{name}: {el!r} is not one of the model's elements {els}")
        if not isinstance(entry, Mapping):
            fail(f"{name}: expected an object {{n_active, map}}")
        for key in ("n_active", "map"):
            if key not in entry:
                fail(f"missing required key '{name}.{key}'")
        r = _count(entry["n_active"], f"{name}.n_active", fail)
        m = int(np.sum(basis_species == els.index(el)))
        G = _array(entry["map"], "float", f"{name}.map", fail)
        _length(G, m * r, f"{name}.map", f"m*n_active = {m}*{r}, m = invariants centred on {el}",
                fail)
        out[el] = dict(entry, n_active=r, map=G)
    return dict(aset, per_element=out)


def _check_posterior(post, els, n_basis, fail):
    if post is None:
        return None
    if not isinstance(post, Mapping):
        fail(f"posterior: expected null or an object, got {type(post).__name__}")
    for key in ("n", "columns", "e0_elements", "mean", "cov_factor"):
        if key not in post:
            fail(f"missing required key 'posterior.{key}'")
    n = _count(post["n"], "posterior.n", fail)
    e0_els = post["e0_elements"]
    if isinstance(e0_els, (str, bytes, Mapping)) or not isinstance(e0_els, (list, tuple)):
        fail("posterior.e0_elements: expected an array of chemical symbols")
    for e in e0_els:
        if e not in els:
            fail(f"posterior.e0_elements: {e!r} is not one of the model's elements {els}")
    if len(set(e0_els)) != len(e0_els):
        fail("posterior.e0_elements: an element appears more than once")
    if post["columns"] != n or n != n_basis + len(e0_els):
        fail(f"posterior: n = {n} and columns = {post['columns']!r} must both be n_basis + "
             f"len(e0_elements) = {n_basis + len(e0_els)}")
    mean = _array(post["mean"], "float", "posterior.mean", fail)
    _length(mean, n, "posterior.mean", "n", fail)
    L = _array(post["cov_factor"], "float", "posterior.cov_factor", fail)
    _length(L, n * (n + 1) // 2, "posterior.cov_factor", "n(n+1)/2, packed lower triangle", fail)
    out = dict(post, n=n, columns=n, e0_elements=[str(e) for e in e0_els], mean=mean,
               cov_factor=L)
    if post.get("noise") is not None:
        out["noise"] = _check_noise(post["noise"], fail)
    return out


_NOISE_KEYS = ("beta", "energy_weight", "forces_weight", "stress_weight")


def _check_noise(noise, fail):
    """posterior.noise (optional): the fit's noise precision and row weights."""
    if not isinstance(noise, Mapping) or sorted(noise) != sorted(_NOISE_KEYS):
        fail(f"posterior.noise: expected an object with exactly the keys {list(_NOISE_KEYS)}")
    out = {}
    for k in _NOISE_KEYS:
        v = noise[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
            fail(f"posterior.noise.{k}: expected a finite number > 0, got {v!r}")
        out[k] = float(v)
    return out


# -- writing ----------------------------------------------------------------------------

def _string(s, where, fail):
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        fail(f"{where}: string is not valid Unicode (lone surrogate)")
    return json.dumps(s)  # ASCII with \u escapes: the file stays plain ASCII


def _number_list(a, where, fail):
    if a.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(a))
        if bad.size:
            fail(f"{where}[{bad[0]}] is {a[bad[0]]}: NaN and Inf cannot be stored")
        a = a.astype(np.float64)
    # json's C encoder writes ints with str() and floats with float.__repr__ (shortest
    # exact text), separated by ", ": the same text as a Python loop, several times faster
    return json.dumps(a.tolist())


def _dump(v, where, fail, depth=2):
    """One JSON value on one line."""
    if depth > _MAX_DEPTH:
        fail(f"{where}: nested deeper than {_MAX_DEPTH} levels (circular reference?)")
    if v is None:
        return "null"
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if _is_int(v):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            fail(f"{where} is {v}: NaN and Inf cannot be stored")
        return repr(float(v))
    if isinstance(v, str):
        return _string(v, where, fail)
    if isinstance(v, Mapping):
        parts = []
        for k, x in v.items():
            if not isinstance(k, str):
                fail(f"{where}: object keys must be strings, got {k!r}")
            parts.append(f"{_string(k, where, fail)}: {_dump(x, f'{where}.{k}', fail, depth + 1)}")
        return "{" + ", ".join(parts) + "}"
    if isinstance(v, np.ndarray):
        if v.ndim == 1 and v.dtype.kind in "iuf":
            return _number_list(v, where, fail)
        if v.ndim == 0:
            return _dump(v.item(), where, fail, depth)
        v = list(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_dump(x, f"{where}[{i}]", fail, depth + 1) for i, x in enumerate(v)) + "]"
    fail(f"{where}: cannot store a value of type {type(v).__name__} in a model file")


def _render(doc, fail):
    """The file text with a zero checksum placeholder; top-level keys on their own lines,
    the entries of spec / tables / metadata on their own lines, arrays on one line."""
    items = [(k, doc[k]) for k in _TOP_ORDER]
    lines = ["{"]
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if key in ("spec", "tables", "metadata") and len(value):
            lines.append(f'  "{key}": {{')
            entries = list(value.items())
            for j, (k, x) in enumerate(entries):
                if not isinstance(k, str):
                    fail(f"{key}: object keys must be strings, got {k!r}")
                sep = "," if j < len(entries) - 1 else ""
                lines.append(f"    {_string(k, key, fail)}: {_dump(x, f'{key}.{k}', fail, 3)}{sep}")
            lines.append("  }" + comma)
        else:
            lines.append(f'  "{key}": {_dump(value, key, fail)}{comma}')
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_model_file(path, document: Mapping) -> str:
    """Write document as a model file at path, atomically; returns the sha256 hex digest.

    document holds the keys ace_lin_version, elements, e0, spec, tables, coefficients,
    metadata (numpy arrays and scalars are accepted). format, format_version, units and
    checksum are filled in here; if present in document they must agree (checksum is
    recomputed). Raises ModelFileError for a document that could not be read back.
    """
    path = os.fspath(path)

    def fail(msg):
        raise ModelFileError(f"{path}: cannot write model file: {msg}")

    if not isinstance(document, Mapping):
        fail(f"document must be a mapping, got {type(document).__name__}")
    doc = dict(document)
    for key, want in (("format", FORMAT_NAME), ("format_version", FORMAT_VERSION), ("units", UNITS)):
        if key in doc and doc.pop(key) != want:
            fail(f"'{key}' is set by the writer; the document has {document[key]!r}, expected {want!r}")
    doc.pop("checksum", None)
    unknown = sorted(set(doc) - set(_REQUIRED), key=str)
    if unknown:
        fail(f"unknown top-level key(s) {unknown} (free-form data belongs in 'metadata')")
    doc = _check_document(doc, fail)
    unknown = sorted(set(doc["tables"]) - {k for k, _ in _TABLES} - {"radial_weights"}, key=str)
    if unknown:
        fail(f"unknown table(s) {unknown}")
    doc.update(format=FORMAT_NAME, format_version=FORMAT_VERSION, units=dict(UNITS),
               checksum={"algorithm": "sha256", "value": "0" * 64})
    data = _render(doc, fail).encode("ascii")
    found = list(_VALUE_RE.finditer(data))
    if len(found) != 1:
        fail('spec or metadata contains the text "value": "<64 hex digits>", which is reserved '
             "for the checksum")
    digest = hashlib.sha256(data).hexdigest()
    m = found[0]
    atomic_write(path, data[:m.start(1)] + digest.encode("ascii") + data[m.end(1):], "model file")
    return digest


# -- reading ----------------------------------------------------------------------------

def _object_pairs(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise _Duplicate(dup)
    return dict(pairs)


class _Duplicate(Exception):
    pass


def _constant(name):
    raise ValueError(f"{name} is not valid JSON (NaN and Inf are not allowed)")


def _verify_checksum(data, doc, fail):
    ck = doc.get("checksum")
    if ck is None:
        fail("missing required key 'checksum'")
    if not isinstance(ck, Mapping) or ck.get("algorithm") != "sha256":
        fail('checksum.algorithm must be "sha256"')
    stored = ck.get("value")
    if not isinstance(stored, str) or not _HEX64.fullmatch(stored):
        fail("checksum.value must be 64 lowercase hex digits")
    found = list(_VALUE_RE.finditer(data))
    if len(found) != 1:
        fail(f'cannot verify the checksum: the text "value": "<64 hex>" occurs {len(found)} '
             "times (must be exactly once; was the file reformatted?)")
    m = found[0]
    if m.group(1).decode("ascii") != stored:
        fail("cannot verify the checksum: the value text found is not checksum.value")
    actual = hashlib.sha256(data[:m.start(1)] + b"0" * 64 + data[m.end(1):]).hexdigest()
    if actual != stored:
        fail(f"checksum mismatch: the file is corrupted or was edited (stored sha256 "
             f"{stored[:12]}..., content gives {actual[:12]}...)")


def read_model_file(path) -> dict:
    """Read and verify a model file. Returns the document with the tables and the
    coefficients as numpy arrays (int32, basis_term_start int64, float64), e0 as floats.
    Raises ModelFileError (message: file and problem) for anything wrong with the file."""
    path = os.fspath(path)

    def fail(msg):
        raise ModelFileError(f"{path}: {msg}")

    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        fail("model file not found")
    except OSError as exc:
        fail(f"cannot read model file: {exc.strerror or exc}")
    if not data:
        fail("the model file is empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        fail(f"not a valid model file (corrupted?): invalid UTF-8 at byte {exc.start}")
    try:
        doc = json.loads(text, object_pairs_hook=_object_pairs, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        byte = len(text[:exc.pos].encode("utf-8"))
        fail(f"not a valid model file (truncated or corrupted?): invalid JSON at byte {byte} "
             f"(line {exc.lineno}, column {exc.colno}): {exc.msg}")
    except _Duplicate as exc:
        fail(f"not a valid model file: duplicate object key {exc.args[0]!r}")
    except (ValueError, RecursionError) as exc:
        fail(f"not a valid model file: {exc}")
    if not isinstance(doc, dict):
        fail(f"not an ace_lin model file (top level is {type(doc).__name__}, not an object)")
    if "format" not in doc:
        fail("missing required key 'format' (not an ace_lin model file?)")
    if doc["format"] != FORMAT_NAME:
        fail(f"not an ace_lin model file (format is {doc['format']!r}, expected {FORMAT_NAME!r})")
    if "format_version" not in doc:
        fail("missing required key 'format_version'")
    version = doc["format_version"]
    if not _is_int(version):
        fail(f"format_version: expected an integer, got {version!r}")
    if version > FORMAT_VERSION:
        fail(f"format_version {version} was written by a newer ace_lin; this ace_lin reads "
             f"format_version <= {FORMAT_VERSION}: upgrade ace_lin to read it")
    if version < FORMAT_VERSION and any(v not in MIGRATIONS for v in range(version, FORMAT_VERSION)):
        fail(f"format_version {version} is not supported (this ace_lin reads {FORMAT_VERSION}, "
             "and has no migration from it)")
    _verify_checksum(data, doc, fail)
    for v in range(version, FORMAT_VERSION):
        doc = MIGRATIONS[v](doc)
        doc["format_version"] = v + 1
    if "units" not in doc:
        fail("missing required key 'units'")
    if doc["units"] != UNITS:
        fail(f"units are {doc['units']!r}; ace_lin works in {UNITS!r}")
    return _check_document(doc, fail)
