"""`ace-lin select` and trust/select.py: distinct frames, novel ones first, duplicates
counted once, clear errors for impossible requests; `ace-lin activeset` builds a set that
grades its training data <= 1."""
import ase.io
import numpy as np
import pytest
from ase.build import bulk

from ace_lin import BasisSpec, load_model
from ace_lin.cli.main import main
from ace_lin.trust.grade import build_active_set
from ace_lin.trust.select import select_structures
from helpers import random_model


def _cell(f, seed, rattle=0.1):
    a = bulk("Si", "diamond", 5.43 * f, cubic=True)
    a.rattle(rattle, seed=seed)
    return a


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("select")
    spec = BasisSpec(elements=("Si",), order=3, degree=[8, 8, 6], r_cut=5.0)
    train = [_cell(1.0 + 0.01 * k, k + 2) for k in range(-2, 3)]
    ase.io.write(tmp / "train.xyz", train)
    random_model(spec).save(tmp / "plain.json")
    model = random_model(spec).with_trust(active_set=build_active_set(spec, train))
    model.save(tmp / "model.json")
    # pool: near-training frames, two novel ones (compressed, stretched), one duplicate
    pool = [_cell(1.0, 50 + k, 0.08) for k in range(4)] + [_cell(0.85, 7), _cell(1.12, 8)]
    pool.append(pool[4].copy())
    ase.io.write(tmp / "pool.xyz", pool)
    return tmp, model, train, pool


def test_select_prefers_novel_frames_and_never_repeats(setup):
    tmp, model, train, pool = setup
    idx, grades = select_structures(model, pool, 6)
    assert len(set(idx)) == 6 and 6 not in idx  # the duplicate of frame 4 is not offered
    assert set(idx[:2]) == {4, 5}                # compressed and stretched cells first
    assert grades[0] > 10 and grades[0] >= grades[1]
    # once the compressed frame is in, its environments no longer look new: the remaining
    # picks grade far lower than it did
    assert max(grades[2:]) < grades[0] / 10


def test_cli_select_writes_distinct_frames(setup, capsys):
    tmp, model, train, pool = setup
    out = tmp / "chosen.xyz"
    assert main(["select", str(tmp / "model.json"), str(tmp / "pool.xyz"), "--n", "3",
                 "--out", str(out)]) == 0
    got = ase.io.read(out, ":")
    assert len(got) == 3
    keys = {tuple(np.round(a.positions, 8).ravel()) for a in got}
    assert len(keys) == 3
    assert [a.info["select_rank"] for a in got] == [0, 1, 2]
    assert {a.info["select_pool_index"] for a in got[:2]} == {4, 5}


@pytest.mark.parametrize("args, fragment", [
    (["--n", "7"], "only 6 distinct frames (7 in all, 1 duplicates)"),
    (["--n", "0"], "--n must be >= 1"),
])
def test_cli_select_bad_requests(setup, capsys, args, fragment):
    tmp, *_ = setup
    assert main(["select", str(tmp / "model.json"), str(tmp / "pool.xyz"), *args,
                 "--out", str(tmp / "x.xyz")]) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1
    assert not (tmp / "x.xyz").exists()


def test_cli_select_wrong_inputs(setup, capsys, tmp_path):
    tmp, *_ = setup
    cu = bulk("Cu", "fcc", 3.6)
    ase.io.write(tmp_path / "cu.xyz", [cu])
    (tmp_path / "empty.xyz").write_text("")
    cases = [([str(tmp / "model.json"), str(tmp_path / "cu.xyz")], "element(s) ['Cu'] not in the model"),
             ([str(tmp / "model.json"), str(tmp_path / "empty.xyz")], "is empty"),
             ([str(tmp / "model.json"), str(tmp_path / "none.xyz")], "no such candidate file"),
             ([str(tmp / "plain.json"), str(tmp / "pool.xyz")], "has no active set")]
    for argv, fragment in cases:
        assert main(["select", *argv, "--n", "1", "--out", str(tmp_path / "o.xyz")]) == 2
        err = capsys.readouterr().err
        assert fragment in err and len(err.strip().splitlines()) == 1, err


def test_cli_activeset_builds_a_set_grading_its_data(setup, tmp_path, capsys):
    tmp, model, train, pool = setup
    out = tmp_path / "with.json"
    assert main(["activeset", str(tmp / "plain.json"), str(tmp / "train.xyz"),
                 "--out", str(out)]) == 0
    m = load_model(out)
    assert m.has_active_set and np.array_equal(m.coefficients, load_model(tmp / "plain.json").coefficients)
    for atoms in ase.io.read(tmp / "train.xyz", ":"):  # as stored (positions rounded)
        assert m.grade(atoms).max() <= 1 + 1e-8
    assert main(["activeset", str(tmp / "plain.json"), str(tmp_path / "nothing.xyz")]) == 2
    assert "no such training file" in capsys.readouterr().err
