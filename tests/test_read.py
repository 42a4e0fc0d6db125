"""Data reading: calculator results and info/arrays keys, unit conversions, clear errors."""
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from ace_lin.data.read import (DataError, ReadOptions, infer_elements, is_isolated_atom,
                               read_configs, split_isolated_atoms)


def crystal(energy=-10.0, seed=0, symbols="Si2", stress=True, config_type="bulk"):
    rng = np.random.default_rng(seed)
    a = Atoms(symbols, positions=[[0, 0, 0], [1.4, 1.3, 1.5]], cell=np.diag([5.4, 5.5, 5.6]),
              pbc=True)
    res = {"energy": energy, "forces": rng.normal(size=(2, 3))}
    if stress:
        res["stress"] = rng.normal(size=6) * 0.01
    a.calc = SinglePointCalculator(a, **res)
    a.info["config_type"] = config_type
    return a, res


def test_reads_calculator_results_from_extxyz(tmp_path):
    a, res = crystal()
    b, res_b = crystal(-12.0, seed=1, stress=False, config_type="md")
    path = tmp_path / "d.xyz"
    write(path, [a, b], format="extxyz")
    cs = read_configs(str(path), elements=["Si"])
    assert [c.config_type for c in cs] == ["bulk", "md"]
    assert cs[0].energy == pytest.approx(-10.0)
    np.testing.assert_allclose(cs[0].forces, res["forces"], rtol=1e-7)
    np.testing.assert_allclose(cs[0].stress, res["stress"], rtol=1e-7)  # Voigt xx yy zz yz xz xy
    assert cs[1].stress is None and cs[1].weight == 1.0
    assert cs[0].atoms.calc is None and cs[0].source.endswith("d.xyz:0")


def test_info_and_arrays_keys_and_virial_conversion(tmp_path):
    a = Atoms("Si2", positions=[[0, 0, 0], [1.4, 1.3, 1.5]], cell=np.diag([5.0, 6.0, 7.0]), pbc=True)
    forces = np.arange(6.0).reshape(2, 3)
    virial = np.array([[1.0, 0.2, 0.3], [0.2, 2.0, 0.4], [0.3, 0.4, 3.0]])  # eV
    a.info.update(dft_energy=-7.5, dft_virial=virial, w=2.5, group="x")
    a.arrays["dft_forces"] = forces
    path = tmp_path / "k.xyz"
    write(path, a, format="extxyz")
    opts = ReadOptions(energy_key="dft_energy", forces_key="dft_forces", virial_key="dft_virial",
                       weight_key="w", config_type_key="group")
    (c,) = read_configs(str(path), options=opts)
    assert c.energy == -7.5 and c.weight == 2.5 and c.config_type == "x"
    np.testing.assert_allclose(c.forces, forces)
    vol = 5.0 * 6.0 * 7.0
    # stress = -virial / V, Voigt xx yy zz yz xz xy
    np.testing.assert_allclose(c.stress, -np.array([1.0, 2.0, 3.0, 0.4, 0.3, 0.2]) / vol)


def test_stress_key_in_info(tmp_path):
    a = Atoms("Si", cell=np.eye(3) * 3, pbc=True)
    a.info.update(E=-1.0, S=[1, 2, 3, 4, 5, 6])
    a.arrays["F"] = np.zeros((1, 3))
    write(tmp_path / "s.xyz", a, format="extxyz")
    (c,) = read_configs(str(tmp_path / "s.xyz"),
                        options=ReadOptions(energy_key="E", forces_key="F", stress_key="S"))
    np.testing.assert_allclose(c.stress, [1, 2, 3, 4, 5, 6])


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_configs(str(tmp_path / "nope.xyz"))
    (tmp_path / "empty.xyz").write_text("")
    with pytest.raises(DataError, match="empty.xyz: file is empty"):
        read_configs(str(tmp_path / "empty.xyz"))
    (tmp_path / "junk.xyz").write_text("this is not xyz\n")
    with pytest.raises(DataError, match="junk.xyz: cannot read"):
        read_configs(str(tmp_path / "junk.xyz"))


def test_errors_name_file_and_frame(tmp_path):
    good, _ = crystal()
    bare = Atoms("Si", cell=np.eye(3) * 4, pbc=True)  # no energy anywhere
    path = tmp_path / "m.xyz"
    write(path, [good, bare], format="extxyz")
    with pytest.raises(DataError, match=r"m\.xyz:1: no energy"):
        read_configs(str(path))


def test_wrong_forces_shape(tmp_path):
    a = Atoms("Si2", positions=[[0, 0, 0], [1, 1, 1]])
    a.info["E"] = -1.0
    a.arrays["F"] = np.zeros((2, 2))  # two components only
    write(tmp_path / "f.xyz", a, format="extxyz")
    with pytest.raises(DataError, match=r"f\.xyz:0: forces have shape \(2, 2\), expected \(2, 3\)"):
        read_configs(str(tmp_path / "f.xyz"), options=ReadOptions(energy_key="E", forces_key="F"))


def test_nan_values(tmp_path):
    a, res = crystal()
    res["forces"][1, 2] = np.nan
    a.calc = SinglePointCalculator(a, **res)
    b, _ = crystal(energy=np.nan)
    write(tmp_path / "n.xyz", [b], format="extxyz")
    with pytest.raises(DataError, match=r"n\.xyz:0: energy is nan"):
        read_configs(str(tmp_path / "n.xyz"))
    write(tmp_path / "nf.xyz", [crystal()[0], a], format="extxyz")
    with pytest.raises(DataError, match=r"nf\.xyz:1: forces contain NaN"):
        read_configs(str(tmp_path / "nf.xyz"))


def test_unknown_element(tmp_path):
    a, _ = crystal(symbols="SiO")
    write(tmp_path / "e.xyz", [crystal()[0], a], format="extxyz")
    with pytest.raises(DataError, match=r"e\.xyz:1: element\(s\) \['O'\] not in the element list"):
        read_configs(str(tmp_path / "e.xyz"), elements=["Si"])


def test_infer_elements_sorted_by_atomic_number(tmp_path):
    write(tmp_path / "i.xyz", [crystal(symbols="OSi")[0], crystal(symbols="HO")[0]], format="extxyz")
    assert infer_elements(read_configs(str(tmp_path / "i.xyz"))) == ["H", "O", "Si"]


def test_isolated_atoms_define_e0(tmp_path):
    iso = Atoms("O", positions=[[0, 0, 0]])  # open boundaries
    iso.calc = SinglePointCalculator(iso, energy=-0.5, forces=np.zeros((1, 3)))
    boxed = Atoms("Si", cell=np.eye(3) * 12, pbc=True)
    boxed.calc = SinglePointCalculator(boxed, energy=-0.2, forces=np.zeros((1, 3)))
    small = Atoms("Si", cell=np.eye(3) * 3, pbc=True)  # a 1-atom crystal, not isolated
    small.calc = SinglePointCalculator(small, energy=-4.0, forces=np.zeros((1, 3)))
    write(tmp_path / "iso.xyz", [iso, crystal()[0], boxed, small], format="extxyz")
    cs = read_configs(str(tmp_path / "iso.xyz"))
    e0, rest = split_isolated_atoms(cs, min_box=10.0)
    assert e0 == {"O": -0.5, "Si": -0.2}
    assert [c.source.rsplit(":", 1)[1] for c in rest] == ["1", "3"]
    assert not is_isolated_atom(boxed, min_box=13.0)


def test_conflicting_isolated_atoms(tmp_path):
    frames = []
    for e in (-0.5, -0.7):
        a = Atoms("O")
        a.calc = SinglePointCalculator(a, energy=e, forces=np.zeros((1, 3)))
        frames.append(a)
    write(tmp_path / "c.xyz", frames, format="extxyz")
    with pytest.raises(DataError, match=r"c\.xyz:1: isolated O atom"):
        split_isolated_atoms(read_configs(str(tmp_path / "c.xyz")), 10.0)


def test_bundled_example_reads(tmp_path):
    import os

    root = os.path.join(os.path.dirname(__file__), "..", "examples", "data")
    cs = read_configs(os.path.join(root, "Si_train.xyz"), elements=["Si"])
    assert len(cs) == 40 and all(c.stress is not None for c in cs)
    assert {c.config_type for c in cs} == {"AIMD-NVT", "Elastic", "Surface", "Vacancy"}


def test_stress_of_non_periodic_frame_is_dropped(tmp_path):
    a = Atoms("Si2", positions=[[0, 0, 0], [1.4, 1.3, 1.5]], cell=np.eye(3) * 8, pbc=[True, True, False])
    a.calc = SinglePointCalculator(a, energy=-1.0, forces=np.zeros((2, 3)), stress=np.ones(6))
    write(tmp_path / "slab.xyz", a, format="extxyz")
    (c,) = read_configs(str(tmp_path / "slab.xyz"))
    assert c.stress is None


def test_free_energy_is_preferred_and_energy_key_may_name_a_calculator_result(tmp_path):
    """With smearing, forces are the gradient of the free energy: by default the fit must
    see that one; energy_key="energy" picks the sigma -> 0 energy instead."""
    a = Atoms("Si2", positions=[[0, 0, 0], [1.4, 1.3, 1.5]], cell=np.diag([5.4, 5.5, 5.6]), pbc=True)
    a.calc = SinglePointCalculator(a, energy=-10.0, free_energy=-10.25, forces=np.zeros((2, 3)))
    write(tmp_path / "fe.xyz", a, format="extxyz")
    (c,) = read_configs(str(tmp_path / "fe.xyz"))
    assert c.energy == pytest.approx(-10.25)
    (c,) = read_configs(str(tmp_path / "fe.xyz"), options=ReadOptions(energy_key="energy"))
    assert c.energy == pytest.approx(-10.0)
    with pytest.raises(DataError, match=r"fe.xyz:0.*'dft'.*neither an info key.*calculator result"):
        read_configs(str(tmp_path / "fe.xyz"), options=ReadOptions(energy_key="dft"))


def test_reads_a_vasp_outcar():
    """A real OUTCAR (ASE's own test file, used in place) goes through ase.io.read:
    free energy (TOTEN), forces and stress (ASE sign, Voigt) as ASE reports them."""
    import os

    import ase
    import ase.io

    path = os.path.join(os.path.dirname(ase.__file__), "test", "testdata", "vasp", "OUTCAR_example_1")
    if not os.path.isfile(path):
        pytest.skip("this ASE installation has no OUTCAR test file")
    ref = ase.io.read(path, ":")
    cs = read_configs(path)
    assert len(cs) == len(ref) >= 1
    for c, a in zip(cs, ref):
        assert c.energy == pytest.approx(a.get_potential_energy(force_consistent=True), abs=1e-10)
        np.testing.assert_allclose(c.forces, a.get_forces(), atol=1e-12)
        np.testing.assert_allclose(c.stress, a.get_stress(), atol=1e-12)
    (sigma0,) = read_configs(path, options=ReadOptions(energy_key="energy"))[-1:]
    assert sigma0.energy == pytest.approx(ref[-1].get_potential_energy(), abs=1e-10)


def test_reads_an_ase_trajectory(tmp_path):
    a, res = crystal()
    b, _ = crystal(-12.0, seed=1)
    write(tmp_path / "d.traj", [a, b])
    cs = read_configs(str(tmp_path / "d.traj"), elements=["Si"])
    assert [c.energy for c in cs] == [-10.0, -12.0]
    np.testing.assert_allclose(cs[0].forces, res["forces"])
    np.testing.assert_allclose(cs[0].stress, res["stress"])
