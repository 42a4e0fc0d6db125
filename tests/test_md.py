"""`ace-lin md` with the ASE engine: config errors, energy conservation, thermostats,
bitwise resume after kill -9, output files."""
import glob
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
from ase.build import bulk
from ase.io import read

from ace_lin.cli.main import main
from ace_lin.fit.driver import fit
from ace_lin.io.model_file import write_model_file
from ace_lin.md.config import MDConfigError, parse_config
from ace_lin.md.outputs import THERMO_COLUMNS, read_thermo
from ace_lin.md.run import run_md
from ace_lin.model import load_model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(REPO, "examples", "data")


@pytest.fixture(scope="module")
def si_model(tmp_path_factory):
    """A small physically sensible Si model (fitted to the bundled mlearn subset)."""
    out = tmp_path_factory.mktemp("md")
    cfg = {"data": {"train": os.path.join(EXAMPLES, "Si_train.xyz")}, "elements": ["Si"],
           "basis": {"size": "small", "order": 3, "degree": [10, 10, 8]},
           "output": str(out / "si.json")}
    fit(cfg, progress=False)
    return str(out / "si.json")


@pytest.fixture(scope="module")
def si_cell(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("cell") / "si8.xyz")
    bulk("Si", "diamond", a=5.43, cubic=True).write(path)
    return path


def config(si_model, si_cell, out, **kw):
    d = {"model": si_model, "structure": si_cell, "engine": "ase", "seed": 7, "stride": 5,
         "checkpoint_every": 20, "output": str(out), "threads": 1}
    d.update(kw)
    return d


def _run(d):
    return run_md(parse_config(d), progress=False)


# -- configuration errors --------------------------------------------------------------
@pytest.mark.parametrize("change, message", [
    ({"ensemble": "nvt-berendsen"}, "'ensemble': unknown value 'nvt-berendsen'; choose one of nve,"),
    ({"steps": None}, "missing key 'steps'"),
    ({"temprature": 300}, "unknown key 'temprature'"),
    ({"ensemble": "nvt-csvr", "temperature": None}, "missing key 'temperature'"),
    ({"stride": 7, "checkpoint_every": 14}, "steps (20) must be a multiple of 'stride' (7)"),
    ({"structure": "WRONG"}, "element(s) O that the model (elements Si) does not describe"),
    ({"ensemble": "npt", "temperature": 300}, "missing key 'pressure'"),
    ({"grade_every": 0}, "'grade_every': expected an integer >= 1, got 0"),
    ({"stages": [{"ensemble": "nve", "temperature": 300, "steps": 3, "stride": 1},
                 {"ensemble": "nve", "steps": 10}], "ensemble": None, "temperature": None,
      "steps": None, "checkpoint_every": 10},
     "stage 1: it starts at step 3, not a multiple of its 'stride' (5)"),
    ({"stages": [{"ensemble": "nve", "temperature": 300, "steps": 24, "stride": 8}],
      "ensemble": None, "temperature": None, "steps": None},
     "'checkpoint_every' (20) must be a multiple of 'stride' (8)"),
])
def test_bad_config_gives_one_clear_line(si_model, si_cell, tmp_path, capsys, change, message):
    d = config(si_model, si_cell, tmp_path / "out", ensemble="nve", temperature=300, steps=20)
    if change.get("structure") == "WRONG":
        wrong = tmp_path / "sio.xyz"
        a = bulk("Si", "diamond", a=5.43, cubic=True)
        a.symbols[0] = "O"
        a.write(str(wrong))
        change = {"structure": str(wrong)}
    d.update(change)
    d = {k: v for k, v in d.items() if v is not None}
    path = tmp_path / "md.yaml"
    path.write_text(yaml.safe_dump(d))
    assert main(["md", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("ace-lin md: error: ")
    assert message in err, err
    assert not os.path.exists(tmp_path / "out" / "trajectory.extxyz")


def test_config_structure_rules():
    base = {"model": "m.json", "structure": "s.xyz"}
    with pytest.raises(MDConfigError, match="either 'stages' or one stage"):
        parse_config(dict(base, ensemble="nve", steps=10, stages=[{"ensemble": "nve", "steps": 10}]))
    with pytest.raises(MDConfigError, match=r"stages\[1\].: unknown key 'pressur'"):
        parse_config(dict(base, stages=[{"ensemble": "nve", "steps": 10, "temperature": 1},
                                        {"ensemble": "npt", "steps": 10, "temperature": 1,
                                         "pressur": 0}]))
    with pytest.raises(MDConfigError, match="missing key 'model'"):
        parse_config({"structure": "s.xyz", "ensemble": "nve", "steps": 10, "temperature": 1})
    cfg = parse_config(dict(base, stages=[{"ensemble": "nvt-langevin", "steps": 20, "temperature": 300},
                                          {"ensemble": "nve", "steps": 30}]))
    assert cfg.total_steps == 50 and cfg.stages[1].temperature is None


def test_grade_log_reading(tmp_path):
    """lammps/grade.txt as `fix print` leaves it after a kill and a resume: comment lines
    (one per fix definition), a step printed again (the resumed segment's set-up) keeps its
    last value, a line cut short by the kill is skipped."""
    from ace_lin.md.lammps_dump import read_grades

    path = tmp_path / "grade.txt"
    assert read_grades(str(path)) == {}
    path.write_text("# Fix print output for fix grade_log\n0 0.5\n20 0.75\n40 0.8\n"
                    "# Fix print output for fix grade_log\n20 0.7500000001\n40 0.9\n60 1.2")
    assert read_grades(str(path)) == {0: 0.5, 20: 0.7500000001, 40: 0.9}


def test_grade_every_picks_frames_per_stage_and_is_not_physics(tmp_path):
    """Stage k grades the multiples of lcm(stride_k, grade_every) among the steps it ends
    on (a stage boundary belongs to the stage before it; a stage of no steps owns none);
    grade_every changes no fingerprint, so a run may resume with another one."""
    for name in ("m.json", "s.xyz"):
        (tmp_path / name).write_text(name)
    base = {"model": str(tmp_path / "m.json"), "structure": str(tmp_path / "s.xyz"),
            "stride": 10, "stages": [{"ensemble": "nve", "temperature": 300, "steps": 100},
                                     {"ensemble": "nve", "steps": 0, "stride": 5},
                                     {"ensemble": "nve", "steps": 20, "stride": 1},
                                     {"ensemble": "nve", "steps": 60, "stride": 20}]}
    every = parse_config(base)
    cfg = parse_config(dict(base, grade_every=4))
    assert [cfg.stage_grade_stride(k) for k in range(4)] == [20, 20, 4, 20]
    assert [every.stage_grade_stride(k) for k in range(4)] == [10, 5, 1, 20]
    graded = [s for s in range(181) if cfg.graded(s)]
    assert graded == [0, 20, 40, 60, 80, 100, 104, 108, 112, 116, 120, 140, 160, 180]
    assert [s for s in range(181) if every.graded(s)] == (list(range(0, 101, 10)) +
                                                          list(range(101, 121)) + [140, 160, 180])
    assert cfg.fingerprints() == every.fingerprints()
    assert parse_config(dict(base, seed=1)).fingerprints() != every.fingerprints()


# -- physics ---------------------------------------------------------------------------
def test_nve_conserves_energy(si_model, si_cell, tmp_path):
    d = config(si_model, si_cell, tmp_path / "nve", supercell=[2, 2, 2], ensemble="nve",
               temperature=600, steps=300, stride=10, checkpoint_every=100, timestep=1.0)
    _run(d)
    th = read_thermo(str(tmp_path / "nve" / "thermo.csv"))
    n = 64
    # bound: total energy within 0.2 meV/atom over 300 fs of 1 fs steps at 600 K, while the
    # kinetic energy itself swings by ~30 meV/atom (velocity Verlet error ~ dt^2)
    assert np.ptp(th["ekin_eV"]) / n > 0.01
    assert np.ptp(th["etot_eV"]) / n < 2e-4, np.ptp(th["etot_eV"]) / n
    # potential energy takes half of the kinetic energy of the perfect lattice
    assert 150 < th["temperature_K"][-10:].mean() < 500


@pytest.mark.parametrize("ensemble", ["nvt-langevin", "nvt-csvr", "nvt-nose-hoover", "npt"])
def test_thermostat_reaches_temperature(si_model, si_cell, tmp_path, ensemble):
    """64 atoms at 900 K (start from 300 K), tau = 20 fs: the mean over the last 400 fs is
    900 K within 8 % (the kinetic temperature of 64 atoms fluctuates by sqrt(2/(3N)) = 10 %
    per sample; ~20 thermostat times are averaged)."""
    extra = {"pressure": 0.0, "tau_p": 200.0} if ensemble == "npt" else {}
    d = config(si_model, si_cell, tmp_path / ensemble, supercell=[2, 2, 2], ensemble=ensemble,
               temperature=900.0, initial_temperature=300.0, tau=20.0, steps=600, stride=5,
               checkpoint_every=300, **extra)
    _run(d)
    th = read_thermo(str(tmp_path / ensemble / "thermo.csv"))
    late = th["temperature_K"][th["time_fs"] >= 200]
    assert abs(late.mean() - 900.0) / 900.0 < 0.08, f"{ensemble}: mean T {late.mean():.0f} K"
    if ensemble == "npt":
        frames = read(str(tmp_path / ensemble / "trajectory.extxyz"), ":")
        assert abs(frames[-1].get_volume() / frames[0].get_volume() - 1) > 1e-3  # the cell moves


# -- resume after kill -9 ------------------------------------------------------------------
def _checkpoint_step(folder):
    """The ASE engine's checkpoint step, or the LAMMPS engine's latest restart file's."""
    restarts = glob.glob(os.path.join(folder, "lammps", "restart.*.lmp"))
    if restarts:
        return max(int(p.rsplit(".", 2)[-2]) for p in restarts)
    try:
        with open(os.path.join(folder, "checkpoint.json")) as fh:
            return json.load(fh).get("step", -1)
    except (OSError, ValueError):
        return -1


def kill_mid_run(config_path, folder, kill_after_step, timeout=120):
    """Start `ace-lin md CONFIG` in its own session and SIGKILL the whole group once the
    checkpoint has passed kill_after_step; returns the checkpoint step at the kill."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-m", "ace_lin.cli.main", "md", str(config_path),
                             "--no-progress"], start_new_session=True, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t0 = time.time()
    while _checkpoint_step(folder) < kill_after_step:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before it was killed: {proc.stderr.read()[-2000:]}")
        if time.time() - t0 > timeout:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError("the run did not reach the kill step")
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return _checkpoint_step(folder)


def test_kill9_resume_is_bitwise_identical(si_model, si_cell, tmp_path):
    stages = [{"ensemble": "nvt-langevin", "temperature": 900.0, "steps": 1000},
              {"ensemble": "nve", "steps": 1000}]
    full = config(si_model, si_cell, tmp_path / "full", stages=stages, stride=10,
                  checkpoint_every=100)
    part = dict(full, output=str(tmp_path / "part"))
    _run(full)
    path = tmp_path / "part.yaml"
    path.write_text(yaml.safe_dump(part))
    killed_at = []
    for target in (500, 1500):  # one kill inside each stage
        killed_at.append(kill_mid_run(path, str(tmp_path / "part"), target))
    assert killed_at[0] < 2000 and killed_at[1] < 2000, killed_at
    assert main(["md", str(path), "--no-progress"]) == 0
    for name in ("trajectory.extxyz", "thermo.csv"):
        a = (tmp_path / "full" / name).read_bytes()
        b = (tmp_path / "part" / name).read_bytes()
        assert a == b, f"{name} differs after kill -9 at steps {killed_at} and resume"
    frames = read(str(tmp_path / "part" / "trajectory.extxyz"), ":")
    assert [f.info["step"] for f in frames] == list(range(0, 2001, 10))  # none lost, none doubled


def test_outputs(si_model, si_cell, tmp_path):
    d = config(si_model, si_cell, tmp_path / "o", ensemble="nvt-langevin", temperature=500,
               steps=40)
    _run(d)
    folder = tmp_path / "o"
    frames = read(str(folder / "trajectory.extxyz"), ":")
    th = read_thermo(str(folder / "thermo.csv"))
    header = (folder / "thermo.csv").read_text().splitlines()[0]
    assert header == ",".join(THERMO_COLUMNS) + (",max_gamma" if "max_gamma" in th else "")
    assert ("max_gamma" in th) == load_model(si_model).has_active_set
    assert len(frames) == len(th["step"]) == 9
    f = frames[-1]
    assert f.info["step"] == 40 and f.info["time_fs"] == 40.0
    assert f.arrays["velocities"].shape == (8, 3)
    assert abs(f.get_potential_energy() - f.get_potential_energies().sum()) < 1e-8
    np.testing.assert_allclose(th["etot_eV"], th["epot_eV"] + th["ekin_eV"], atol=1e-8)
    assert os.path.getsize(folder / "thermo.png") > 5000
    # re-running a finished run changes nothing
    before = (folder / "trajectory.extxyz").read_bytes()
    _run(d)
    assert (folder / "trajectory.extxyz").read_bytes() == before
    # a different configuration in the same folder is refused, nothing lost
    with pytest.raises(Exception, match="another configuration"):
        _run(dict(d, seed=8))
    assert (folder / "trajectory.extxyz").read_bytes() == before


def test_moved_run_folder_resumes_and_a_changed_model_is_refused(si_model, si_cell, tmp_path):
    """The fingerprint holds the model's and structure's contents, not their paths: a run
    folder moved with its files is accepted as the same run (a finished run stays as it
    is); the same path with another model inside is refused, nothing lost."""
    import shutil

    here = tmp_path / "a"
    here.mkdir()
    shutil.copy(si_model, here / "m.json")
    shutil.copy(si_cell, here / "s.xyz")

    def cfg(folder, **kw):
        return config(str(folder / "m.json"), str(folder / "s.xyz"), folder / "run",
                      ensemble="nve", temperature=600, steps=20, **kw)

    _run(cfg(here))
    before = (here / "run" / "trajectory.extxyz").read_bytes()
    shutil.move(str(here), str(tmp_path / "b"))  # model, structure and run move together
    there = tmp_path / "b"
    _run(cfg(there))
    assert (there / "run" / "trajectory.extxyz").read_bytes() == before
    with pytest.raises(Exception, match="another configuration"):  # the control: other physics
        _run(cfg(there, seed=8))
    doc = load_model(str(there / "m.json")).to_document()  # another valid model, same path
    doc["coefficients"] = doc["coefficients"] * 1.001
    doc["posterior"] = None  # it belongs to the old coefficients
    write_model_file(str(there / "m.json"), doc)
    with pytest.raises(Exception, match="another configuration"):
        _run(cfg(there))
    assert (there / "run" / "trajectory.extxyz").read_bytes() == before


def test_flag_shortcut(si_model, si_cell, tmp_path, capsys):
    out = tmp_path / "flags"
    assert main(["md", si_model, si_cell, "--steps", "20", "--interval", "5", "--ensemble", "nvt",
                 "--out", str(out), "--no-progress", "--threads", "1"]) == 0
    assert len(read(str(out / "trajectory.extxyz"), ":")) == 5
    assert "ran to step 20 of 20" in capsys.readouterr().out


def test_grade_candidates_and_stop(si_model, si_cell, tmp_path):
    """With an active set: max_gamma logged per frame, frames above grade_threshold saved as
    candidates, and max_grade_stop ends the run (a re-run stays stopped until the limit is
    raised, then continues from the stop)."""
    model = load_model(si_model)
    if not model.has_active_set:
        pytest.skip("the fitted model carries no active set")
    d = config(si_model, si_cell, tmp_path / "g", ensemble="nvt-langevin", temperature=1500.0,
               steps=100, stride=5, checkpoint_every=50)
    _run(d)
    th = read_thermo(str(tmp_path / "g" / "thermo.csv"))
    gam = th["max_gamma"]
    assert np.all(gam >= 0) and np.ptp(gam) > 0
    srt = np.sort(gam)
    thr = float(0.5 * (srt[len(gam) // 2] + srt[len(gam) // 2 + 1]))  # between two frames
    d2 = dict(d, output=str(tmp_path / "g2"), grade_threshold=thr)
    _run(d2)
    cand = read(str(tmp_path / "g2" / "candidates.extxyz"), ":")
    assert [c.info["step"] for c in cand] == [int(s) for s, g in zip(th["step"], gam) if g > thr]
    stop = thr
    k = int(np.argmax(gam > stop))
    d3 = dict(d, output=str(tmp_path / "g3"), max_grade_stop=stop)
    s = _run(d3)
    assert s["stopped"] == pytest.approx(gam[k]) and s["steps"] == th["step"][k]
    assert read_thermo(str(tmp_path / "g3" / "thermo.csv"))["step"][-1] == th["step"][k]
    assert _run(d3)["steps"] == th["step"][k]  # stays stopped
    s = _run(dict(d3, max_grade_stop=float(gam.max()) + 1.0))
    assert s["steps"] == 100 and s["stopped"] is None
    np.testing.assert_array_equal(read_thermo(str(tmp_path / "g3" / "thermo.csv"))["max_gamma"], gam)
