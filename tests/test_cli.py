"""The ace-lin command line: fit the bundled example, errors --json, info, bad configs."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

pytest.importorskip("ace_lin._core")

from ace_lin.cli.main import main  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def run_cli(args, cwd=None):
    """The real entry point in a fresh interpreter (exit code, stdout, stderr)."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, "-c", "import sys; from ace_lin.cli.main import main; "
                          "sys.exit(main())"] + list(args),
                         capture_output=True, text=True, cwd=cwd, env=env, timeout=300)
    return res.returncode, res.stdout, res.stderr


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """Fit examples/fit_si.yaml (copied with its data into a temporary directory)."""
    tmp = tmp_path_factory.mktemp("cli")
    shutil.copytree(os.path.join(EXAMPLES, "data"), tmp / "data")
    shutil.copy(os.path.join(EXAMPLES, "fit_si.yaml"), tmp / "fit_si.yaml")
    code, out, err = run_cli(["fit", "fit_si.yaml", "--no-progress"], cwd=tmp)
    assert code == 0, err
    return tmp, out


def test_fit_writes_model_table_and_plot(fitted):
    tmp, out = fitted
    for name in ("Si_model.json", "Si_model.errors.txt", "Si_model.parity.png"):
        assert (tmp / "out" / name).stat().st_size > 0
    assert "training set" in out and "test set" in out and "ALL" in out
    # both searches say what they chose and on which evidence
    assert "r_scale" in out and "prior exponent p" in out and "largest log evidence" in out
    table = (tmp / "out" / "Si_model.errors.txt").read_text()
    assert "meV/at" in table and "Vacancy" in table


def test_errors_json_is_one_object_with_the_documented_keys(fitted):
    tmp, _ = fitted
    code, out, err = run_cli(["errors", "out/Si_model.json", "data/Si_test.xyz", "--json"], cwd=tmp)
    assert code == 0, err
    d = json.loads(out)
    for key in ("energy_mae", "energy_rmse", "force_mae", "force_rmse", "n_configs", "n_atoms",
                "by_config_type"):
        assert key in d
    assert d["n_configs"] == 10 and d["n_atoms"] == 570
    assert set(d["by_config_type"]) == {"AIMD-NVT", "Elastic", "Surface", "Vacancy"}
    # a real fit, not a constant: errors of the size a small ACE gets on Si
    assert 0 < d["energy_mae"] < 20 and 0 < d["force_mae"] < 0.3
    # the same numbers the fit stored for its test set
    from ace_lin import load_model

    stored = load_model(str(tmp / "out" / "Si_model.json")).metadata["fit"]["test_errors"]
    assert d["force_rmse"] == pytest.approx(stored["force_rmse"], rel=1e-9)


def test_errors_text_and_info(fitted, capsys):
    tmp, _ = fitted
    model = str(tmp / "out" / "Si_model.json")
    assert main(["errors", model, str(tmp / "data" / "Si_train.xyz")]) == 0
    assert "AIMD-NVT" in capsys.readouterr().out
    assert main(["info", model]) == 0
    out = capsys.readouterr().out
    assert "Si" in out and "per order" in out and "r_cut" in out and "train errors" in out
    assert "active set      Si (" in out and "posterior       kept" in out
    assert main(["info", model, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["elements"] == ["Si"] and sum(info["n_basis_by_order"].values()) == info["n_basis"]
    assert info["trust"] == {"active_set": {"Si": info["n_basis"]}, "posterior": True,
                             "labels_folded": None}
    # the example leaves r_scale open: the fit searched it, info shows the choice
    factor = info["training"]["r_scale_factor"]
    assert factor is not None and info["r_scale_A"]["Si-Si"] == pytest.approx(factor * 2 * 1.11)
    assert "chosen by evidence" in out
    # so was the prior exponent
    prior = info["training"]["prior"]
    assert info["training"]["prior_p_by_evidence"] and 1.0 <= prior["p"] <= 5.0
    assert f"p {prior['p']:.4g}, chosen by evidence" in out


def test_info_shows_the_long_range_channel(tmp_path, capsys):
    from ace_lin import BasisSpec
    from helpers import random_model

    spec = BasisSpec(elements=["Si"], order=3, degree=8, r_cut=4.5, long_r_cut=6.5, long_degree=(7, 7))
    path = str(tmp_path / "long.json")
    random_model(spec, seed=1).save(path)
    assert main(["info", path, "--json"]) == 0
    lr = json.loads(capsys.readouterr().out)["long_range"]
    short = BasisSpec(elements=["Si"], order=3, degree=8, r_cut=4.5).n_basis
    assert lr["n_basis"] == spec.n_basis - short > 0 and lr["r_cut_A"] == {"Si-Si": 6.5}
    assert main(["info", path]) == 0
    assert "long range" in capsys.readouterr().out


def test_template_prints_a_valid_config(capsys):
    from ace_lin.fit.config import load_config

    assert main(["fit", "--template"]) == 0
    load_config(yaml.safe_load(capsys.readouterr().out))


@pytest.mark.parametrize("content, message", [
    ("data: {train: data/Si_train.xyz}\nweights: {energy: 1, forse: 2}\n",
     "unknown key 'forse' in section 'weights'"),
    ("data: {train: missing.xyz}\nbasis: {order: 2, degree: 6}\n", "missing.xyz: no such file"),
    ("data: {train: data/Si_train.xyz}\nbasis: {order: 9}\n", "section 'basis': order must be"),
    ("data: {train: data/Si_train.xyz}\nelements: [Mo]\n", "not in the element list"),
    ("data: [oops\n", "not valid YAML"),
    ("data: {train: data/Si_train.xyz}\nweights: {config_types: {Surfce: 2}}\n",
     "['Surfce'] not config_type(s) of the training data"),
])
def test_bad_configs_exit_2_with_one_line(tmp_path, capsys, content, message):
    shutil.copytree(os.path.join(EXAMPLES, "data"), tmp_path / "data")
    (tmp_path / "bad.yaml").write_text(content)
    assert main(["fit", str(tmp_path / "bad.yaml"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_bad_config_in_a_real_process_has_no_traceback(tmp_path):
    (tmp_path / "bad.yaml").write_text("data: {train: x.xyz}\nsolver: {kind: blr, lamda: 1}\n")
    code, out, err = run_cli(["fit", "bad.yaml"], cwd=tmp_path)
    assert code == 2 and "Traceback" not in err
    assert err.strip() == ("ace-lin fit: error: bad.yaml: unknown key 'lamda' in section 'solver' "
                           "(allowed: ['column_scaling', 'kind', 'max_iter', 'prior', 'rcond', "
                           "'ridge_lambda', 'tol'])")


def test_missing_model_and_config_exit_2(capsys):
    assert main(["errors", "/nonexistent/model.json", "x.xyz"]) == 2
    assert "no such model file" in capsys.readouterr().err
    assert main(["fit"]) == 2
    assert "configuration file" in capsys.readouterr().err


def test_error_table_units_and_groups():
    """Hand-made predictions: meV/atom for energies, eV/A per component, GPa for stress."""
    import numpy as np
    from ase import Atoms

    from ace_lin.data.read import Config
    from ace_lin.fit.metrics import Prediction, error_table, format_table

    a = Atoms("Si2", positions=[[0, 0, 0], [1, 1, 1]], cell=np.eye(3) * 4, pbc=True)
    b = Atoms("Si4", positions=np.arange(12.0).reshape(4, 3))
    configs = [Config(a, -10.0, np.zeros((2, 3)), np.zeros(6), config_type="x"),
               Config(b, -20.0, np.zeros((4, 3)), None, config_type="y")]
    preds = [Prediction(-10.002, np.full((2, 3), 0.1), np.full(6, 1e-3)),
             Prediction(-20.0, np.full((4, 3), -0.2), None)]
    t = error_table(configs, preds)
    assert t["by_config_type"]["x"]["energy_mae"] == pytest.approx(1.0)   # 2 meV / 2 atoms
    assert t["energy_mae"] == pytest.approx(0.5) and t["energy_rmse"] == pytest.approx(np.sqrt(0.5))
    assert t["force_mae"] == pytest.approx((6 * 0.1 + 12 * 0.2) / 18)
    assert t["stress_mae"] == pytest.approx(0.16021766208) and t["n_stress"] == 1
    assert t["by_config_type"]["y"]["stress_mae"] is None
    assert t["n_configs"] == 2 and t["n_atoms"] == 6
    text = format_table(t)
    assert "ALL" in text and "GPa" in text


def test_cv_json_and_bad_fold_count(fitted):
    tmp, _ = fitted
    code, out, err = run_cli(["cv", "fit_si.yaml", "--folds", "3", "--json", "--no-progress"], cwd=tmp)
    assert code == 0, err
    res = json.loads(out)
    assert res["folds_k"] == 3 and res["errors"]["n_configs"] == 40
    assert res["errors_units"]["energy"] == "meV/atom"
    assert res["errors"]["energy_mae"] > 0 and len(res["folds"]) == 3
    code, out, err = run_cli(["cv", "fit_si.yaml", "--folds", "1"], cwd=tmp)
    assert code == 2 and "folds" in err and "Traceback" not in err
