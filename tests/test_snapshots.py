"""`ace-lin snapshots`: windows, files read back by ASE's own readers, refusal checks."""
import csv
import os

import numpy as np
import pytest
from ase.build import bulk
from ase.io import read

from ace_lin.cli.main import main
from ace_lin.md.outputs import format_frame, frame_info

QE_TEMPLATE = """&CONTROL
  calculation = 'scf'
  prefix = 'si'
  outdir = './tmp'
/
&SYSTEM
  ecutwfc = 30,
  nat = 1
  ntyp = 1
/
&ELECTRONS
/
ATOMIC_SPECIES
  Si 28.0855 Si.pbe-n-rrkjus_psl.1.0.0.UPF
K_POINTS gamma
ATOMIC_POSITIONS crystal
  Si 0.0 0.0 0.0
"""


def write_traj(path, n_frames=12, dt=2.0, change=None, rng_seed=0):
    """A synthetic `ace-lin md` trajectory of an 8-atom Si cell moving smoothly; change
    makes one frame (index 6) violate a check."""
    rng = np.random.default_rng(rng_seed)
    base = bulk("Si", "diamond", a=5.43, cubic=True)
    vel = rng.normal(scale=0.01, size=(8, 3))
    text = []
    for k in range(n_frames):
        a = base.copy()
        a.positions += vel * k * dt
        step, t = k * 2, k * dt
        if change == "count" and k == 6:
            a = a[:-1]
        if change == "order" and k == 6:
            a.symbols[0] = "Ge"
        if change == "cell" and k == 6:
            a.set_cell(a.cell.array * 1.01, scale_atoms=True)
        if change == "time" and k >= 6:
            t += dt
            step += 2
        if change == "repeat" and k == 6:
            step, t = (k - 1) * 2, (k - 1) * dt
        if change == "jump" and k >= 6:
            a.positions[3] += a.cell[0]  # wrapped back into the cell by a lattice vector
        n = len(a)
        text.append(format_frame(a.get_chemical_symbols(), a.cell.array, a.pbc, a.positions,
                                 np.zeros((n, 3)) + vel[:n], np.zeros((n, 3)), np.full(n, -5.0),
                                 frame_info(step, t, -5.0 * n, 0.1, 300.0 + k, 0.0)))
    with open(path, "w") as fh:
        fh.write("".join(text))
    return path


@pytest.mark.parametrize("layout", ["md", "extra_int_column", "stress", "no_lattice"])
def test_fast_frame_reader_gives_what_ase_reads(tmp_path, layout, monkeypatch):
    """read_frame's numpy path (species + real columns, the `ace-lin md` layout) and its ASE
    fallback (other layouts) give the Atoms ASE's own reader gives."""
    from ase.io import write

    from ace_lin.handoff.trajectory import index_frames, read_frame

    path = str(tmp_path / "t.extxyz")
    if layout == "md":
        write_traj(path, n_frames=3)
    else:
        rng = np.random.default_rng(1)
        frames = []
        for k in range(3):
            a = bulk("Si", "diamond", a=5.43, cubic=True) * (1, 1, 2)
            a.symbols[3] = "Ge"
            a.positions += rng.normal(scale=0.05, size=a.positions.shape)
            a.arrays["velocities"] = rng.normal(size=(len(a), 3))
            if layout == "extra_int_column":
                a.arrays["tag_id"] = np.arange(len(a))
            if layout == "no_lattice":
                a.pbc = False
                a.cell = None
            a.info["step"] = k
            stress = rng.normal(size=6) if layout == "stress" else None
            from ase.calculators.singlepoint import SinglePointCalculator

            a.calc = SinglePointCalculator(a, energy=-3.0 * k, forces=rng.normal(size=(len(a), 3)),
                                           stress=stress)
            frames.append(a)
        write(path, frames, format="extxyz")
    ref = read(path, ":")
    heads = index_frames(path)
    assert len(heads) == len(ref) == 3
    if layout == "md":  # the numpy path, not the fallback
        import ase.io

        monkeypatch.setattr(ase.io, "read", None)
    for h, b in zip(heads, ref):
        a = read_frame(path, h)
        assert a.get_chemical_symbols() == b.get_chemical_symbols()
        assert np.array_equal(a.positions, b.positions)
        assert np.array_equal(a.cell.array, b.cell.array) and list(a.pbc) == list(b.pbc)
        assert sorted(a.arrays) == sorted(b.arrays)
        for key in b.arrays:
            assert np.array_equal(a.arrays[key], b.arrays[key]), key
        assert a.info == b.info
        assert a.get_potential_energy() == b.get_potential_energy()
        assert np.array_equal(a.get_forces(), b.get_forces())
        for key in ("energies", "stress"):
            if key in b.calc.results:
                assert np.array_equal(a.calc.results[key], b.calc.results[key]), key


def test_vasp_window_reads_back(tmp_path):
    traj = write_traj(str(tmp_path / "t.extxyz"))
    incar = tmp_path / "INCAR"
    incar.write_text("ENCUT = 300\n")
    out = tmp_path / "vasp"
    assert main(["snapshots", traj, "--format", "vasp", "--out", str(out), "--window", "3:8",
                 "--incar", str(incar)]) == 0
    frames = read(traj, ":")
    rows = list(csv.DictReader(open(out / "index.csv")))
    assert [int(r["frame"]) for r in rows] == [3, 4, 5, 6, 7]
    assert list(rows[0])[:6] == ["frame", "step", "time_fs", "epot_eV", "ekin_eV", "temperature_K"]
    for r in rows:
        k = int(r["frame"])
        got = read(out / f"{k:05d}" / "POSCAR", format="vasp")
        np.testing.assert_allclose(got.positions, frames[k].positions, atol=1e-7)
        np.testing.assert_allclose(got.cell.array, frames[k].cell.array, atol=1e-7)
        assert float(r["time_fs"]) == frames[k].info["time_fs"]
        assert (out / f"{k:05d}" / "INCAR").read_text() == "ENCUT = 300\n"
        assert os.path.islink(out / f"{k:05d}" / "INCAR")


def test_qe_from_template_reads_back(tmp_path):
    traj = write_traj(str(tmp_path / "t.extxyz"))
    tpl = tmp_path / "pw.tpl"
    tpl.write_text(QE_TEMPLATE)
    out = tmp_path / "qe"
    assert main(["snapshots", traj, "--format", "qe", "--template", str(tpl), "--out", str(out),
                 "--window", "4fs:12fs"]) == 0
    frames = read(traj, ":")
    ks = [int(r["frame"]) for r in csv.DictReader(open(out / "index.csv"))]
    assert ks == [2, 3, 4, 5]  # times 4, 6, 8, 10 fs
    for k in ks:
        path = out / f"{k:05d}" / "pw.in"
        got = read(path, format="espresso-in")
        np.testing.assert_allclose(got.positions, frames[k].positions, atol=1e-8)
        np.testing.assert_allclose(got.cell.array, frames[k].cell.array, atol=1e-8)
        text = path.read_text()
        assert "ecutwfc = 30" in text and "Si.pbe-n-rrkjus_psl.1.0.0.UPF" in text  # the user's
        assert "nat = 8" in text and "crystal" not in text


def test_every_repeats_windows(tmp_path):
    traj = write_traj(str(tmp_path / "t.extxyz"), n_frames=20)
    out = tmp_path / "x"
    assert main(["snapshots", traj, "--format", "xyz", "--out", str(out), "--window", "0:3",
                 "--every", "8"]) == 0
    rows = list(csv.DictReader(open(out / "index.csv")))
    assert [int(r["frame"]) for r in rows] == [0, 1, 2, 8, 9, 10, 16, 17, 18]
    got = read(out / "00009.xyz")
    np.testing.assert_allclose(got.positions, read(traj, 9).positions, atol=1e-8)
    assert main(["snapshots", traj, "--format", "cp2k", "--out", str(tmp_path / "c"),
                 "--window", "0:2"]) == 0
    assert "&COORD" in (tmp_path / "c" / "00000" / "subsys.inc").read_text()


@pytest.mark.parametrize("change, message, override", [
    ("count", "the atom count changes", None),
    ("order", "the atom order changes", None),
    ("cell", "the cell differs", "--allow-cell-change"),
    ("time", "non-uniform time spacing", "--allow-nonuniform"),
    ("repeat", "repeat step 10", None),
    ("jump", "atom 3 jumps across the periodic boundary between frames 5 and 6", "--allow-jumps"),
])
def test_refusals(tmp_path, capsys, change, message, override):
    traj = write_traj(str(tmp_path / "t.extxyz"), change=change)
    out = tmp_path / "o"
    assert main(["snapshots", traj, "--format", "xyz", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not out.exists()
    if override:
        assert main(["snapshots", traj, "--format", "xyz", "--out", str(out), override]) == 0


def test_unwrap_writes_continuous_positions(tmp_path):
    traj = write_traj(str(tmp_path / "t.extxyz"), change="jump")
    smooth = read(write_traj(str(tmp_path / "s.extxyz")), ":")
    out = tmp_path / "u"
    assert main(["snapshots", traj, "--format", "vasp", "--out", str(out), "--unwrap"]) == 0
    for k in (5, 6, 11):
        got = read(out / f"{k:05d}" / "POSCAR", format="vasp")
        np.testing.assert_allclose(got.positions, smooth[k].positions, atol=1e-7)
