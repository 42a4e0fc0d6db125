"""Fuzzing the C model-file reader (csrc/model_file.c, json_lite.c) through the C path.

A real small model file (two elements, long-range channel, active set, posterior) is
mutated MUTANTS times: bytes flipped, spans deleted, truncated, numbers replaced, keys
removed, arrays shortened, values of another type; most with the checksum recomputed
(the rule of ace_lin/io/model_file.py) so that the parser and the table checks are
reached. Each mutant is loaded with CoreModel.from_file in a child process, which then
evaluates a small periodic structure (energies, forces and, where there is an active set,
the grade). Every mutant must give a clear one-line error naming the file, or a model
that evaluates; a crash or hang of the child is a failure naming the mutant (rerun one:
`python tests/test_model_fuzz.py BASE_FILE OUT_DIR K 1`).
"""
import hashlib
import json
import os
import random
import re
import subprocess
import sys

import numpy as np
import pytest

MUTANTS = 1200
SEED = 20240
VALUE_RE = re.compile(rb'"value": "([0-9a-f]{64})"')
NUMBER_RE = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
ODD_NUMBERS = [b"0", b"-1", b"1", b"2", b"-0.0", b"1e308", b"-1e308", b"1e-320", b"2147483647",
               b"2147483648", b"-2147483649", b"9007199254740993", b"1e19", b"0.5", b"1.5",
               b"1000", b"1001", b"65", b"64", b"9", b"1e400", b"NaN", b"Infinity", b"", b"--1",
               b"01", b"[]", b"{}", b"null", b'"x"', b"true", b"[1]"]
ODD_VALUES = [None, 0, -1, 1.5, "Si", [], {}, [0], True, 1e308]


def rechecksum(data: bytes) -> bytes:
    """Make the checksum valid again (sha256 with the value's 64 hex digits as '0's);
    data without exactly one value text is returned unchanged."""
    found = list(VALUE_RE.finditer(data))
    if len(found) != 1:
        return data
    m = found[0]
    zeroed = data[:m.start(1)] + b"0" * 64 + data[m.end(1):]
    return data[:m.start(1)] + hashlib.sha256(zeroed).hexdigest().encode() + data[m.end(1):]


def _container_paths(node, path=()):
    """Paths of every non-empty dict and list in a parsed document (numbers are skipped
    in bulk: arrays of numbers are most of a model file)."""
    if isinstance(node, (dict, list)) and node:
        yield path
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for k, v in items:
            if isinstance(v, (dict, list)):
                yield from _container_paths(v, path + (k,))


_BASE_CACHE = {}


def _base_info(base: bytes):
    """Per base file (computed once): number-token spans, container paths and weights."""
    if base not in _BASE_CACHE:
        paths = [p for p in _container_paths(json.loads(base)) if p[:1] != ("checksum",)]
        # prefer what the core reads: tables, coefficients, active_set
        weights = [5 if p[:1] in (("tables",), ("active_set",), ("coefficients",)) else 1 for p in paths]
        spans = [m.span() for m in NUMBER_RE.finditer(base)]
        _BASE_CACHE.clear()
        _BASE_CACHE[base] = (spans, paths, weights)
    return _BASE_CACHE[base]


def _structural(data: bytes, rng: random.Random) -> bytes:
    """Remove a key, shorten an array or change a value's type, at any depth; re-rendered
    with json (the C reader does not depend on the layout, only on the checksum text)."""
    doc = json.loads(data)
    _, paths, weights = _base_info(data)
    cont = doc
    for key in rng.choices(paths, weights)[0]:
        cont = cont[key]
    kind = rng.choice(["remove", "shorten", "retype"])
    if isinstance(cont, dict):
        key = rng.choice(sorted(cont, key=str))
        if kind == "remove":
            del cont[key]
        else:
            cont[key] = rng.choice(ODD_VALUES)
    elif kind == "shorten" or kind == "remove":
        del cont[rng.randrange(len(cont)):][:rng.choice([1, 1, 2, len(cont)])]
    else:
        cont[rng.randrange(len(cont))] = rng.choice(ODD_VALUES)
    return json.dumps(doc, separators=(", ", ": ")).encode()


def mutate(base: bytes, k: int) -> bytes:
    """Mutant k of base (deterministic)."""
    rng = random.Random(SEED * 100003 + k)
    data = bytearray(base)
    op = k % 7
    if op == 0:  # flip bits
        for _ in range(rng.choice([1, 1, 2, 4])):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
    elif op == 1:  # delete a span
        i = rng.randrange(len(data))
        del data[i:i + rng.choice([1, 1, 2, 7, 50, 500])]
    elif op == 2:  # truncate
        data = data[:rng.randrange(len(data))]
    elif op in (3, 4):  # replace one number token by an odd one
        a, b = rng.choice(_base_info(base)[0])
        data[a:b] = rng.choice(ODD_NUMBERS)
    else:  # remove a key, shorten an array, change a type
        data = bytearray(_structural(bytes(data), rng))
    data = bytes(data)
    return rechecksum(data) if rng.random() < 0.85 else data


# -- the child: load and evaluate mutants start .. start+count-1, one result line each ----

def _structure(core):
    """An 8-atom periodic cell with the model's species in turn, and its neighbour list."""
    from ace_lin.neighbours import neighbour_list

    cell = np.diag([4.9, 4.7, 4.8])
    frac = np.array([[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]], dtype=float)
    frac = np.vstack([frac, frac + 0.25]) + np.random.default_rng(0).normal(scale=0.01, size=(8, 3))
    species = np.arange(8, dtype=np.int32) % core.n_species
    nl = neighbour_list(frac @ cell, cell, [True] * 3, core.max_cutoff)
    return species, nl


def child(base_path, out_dir, start, count):
    from ace_lin._core import CoreModel

    base = open(base_path, "rb").read()
    for k in range(start, start + count):
        path = os.path.join(out_dir, f"mutant_{k}.json")
        with open(path, "wb") as fh:
            fh.write(mutate(base, k))
        print(f"start {k}", flush=True)
        try:
            core = CoreModel.from_file(path)
        except (ValueError, MemoryError, OSError) as exc:
            print(json.dumps({"k": k, "load_error": str(exc), "type": type(exc).__name__}), flush=True)
            os.unlink(path)
            continue
        res = {"k": k, "loaded": True}
        try:
            species, nl = _structure(core)
            e, _ = core.compute(species, nl.start, species[nl.j], nl.dr)
            res["energy"] = float(np.sum(e))
            if all(core.has_grade(s) for s in set(species.tolist())):
                res["max_grade"] = float(core.grade(species, nl.start, species[nl.j], nl.dr).max())
        except (ValueError, MemoryError) as exc:
            res["eval_error"] = str(exc)
        print(json.dumps(res), flush=True)
        os.unlink(path)


# -- the test -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def base_file(tmp_path_factory):
    from ace_lin import BasisSpec, LinearACEModel
    from ace_lin.trust.committee import Posterior
    from helpers import random_model

    spec = BasisSpec(elements=["Si", "O"], order=3, degree=4, r_cut=4.0, r_core=1.2,
                     long_r_cut=5.0, long_degree=(4, 3))  # 86 functions
    base = random_model(spec, seed=11)
    rng = np.random.default_rng(12)
    species = spec.basis().species
    maps = {el: rng.normal(size=(int(np.sum(species == s)), 3)) for s, el in enumerate(spec.elements)}
    n = spec.n_basis
    post = Posterior(mean=base.coefficients, factor=np.tril(rng.normal(size=(n, n))) * 1e-3, e0_elements=[])
    model = LinearACEModel(spec, base.coefficients, e0=base.e0, active_set=maps, posterior=post)
    path = tmp_path_factory.mktemp("fuzz") / "base.json"
    model.save(path)
    return path


def run_children(base_file, out_dir, total, timeout=60):
    """Results of mutants 0..total-1; a child that dies is restarted after its mutant."""
    results, failures, k = {}, [], 0
    while k < total:
        cmd = [sys.executable, os.path.abspath(__file__), str(base_file), str(out_dir), str(k), str(total - k)]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(os.path.abspath(__file__)),
                                                            os.environ.get("PYTHONPATH", "")]),
                   OMP_NUM_THREADS="1")  # 8 atoms: threads would only add start-up and spinning
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
            out, err, rc = res.stdout, res.stderr, res.returncode
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            err, rc = "timeout", "timeout"
        started = None
        for line in out.splitlines():
            if line.startswith("start "):
                started = int(line.split()[1])
            elif line.startswith("{"):
                r = json.loads(line)
                results[r["k"]] = r
                started = None
        if rc == 0 and started is None and len(results) >= total:
            break
        if started is None:  # died between mutants (or before the first): not a mutant's fault
            failures.append(f"child failed outside a mutant (rc {rc}): {err[-2000:]}")
            break
        failures.append(f"mutant {started}: the child {'hung' if rc == 'timeout' else f'died (rc {rc})'}; "
                        f"stderr: {err[-1500:]}")
        k = started + 1
    return results, failures


def test_mutated_model_files_give_clear_errors_or_working_models(base_file, tmp_path):
    base = base_file.read_bytes()
    assert len(base) < 150_000
    from ace_lin._core import CoreModel

    ok = CoreModel.from_file(base_file)
    assert ok.has_grade(0) and ok.has_grade(1)
    results, failures = run_children(base_file, tmp_path, MUTANTS)
    assert not failures, "\n".join(failures)
    assert sorted(results) == list(range(MUTANTS))
    loaded = [r for r in results.values() if r.get("loaded")]
    errors = [r for r in results.values() if "load_error" in r]
    bad = [r for r in errors if r["type"] != "CoreFileError" and r["type"] != "MemoryError"]
    assert not bad, f"errors that are not model-file errors: {bad[:5]}"
    unclear = [r for r in errors if "\n" in r["load_error"] or str(tmp_path) not in r["load_error"]
               or len(r["load_error"]) < 30]
    assert not unclear, f"errors that are not one line naming the file: {unclear[:5]}"
    eval_errors = [r for r in loaded if "eval_error" in r]
    assert not eval_errors, f"models that load but do not evaluate: {eval_errors[:5]}"
    # the mutants reach the parser and the table checks, not only the checksum
    kinds = {}
    for r in errors:
        text = r["load_error"].split(": ", 1)[1]
        key = ("checksum" if "checksum" in text else "json" if "invalid JSON" in text
               else "invalid model" if "invalid model" in text else "keys and shapes")
        kinds[key] = kinds.get(key, 0) + 1
    assert kinds.get("json", 0) > 100 and kinds.get("keys and shapes", 0) > 100, kinds
    assert kinds.get("invalid model", 0) > 10 and len(loaded) > 50, (kinds, len(loaded))


if __name__ == "__main__":
    child(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
