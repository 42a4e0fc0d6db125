"""Streaming QR assembly: blocked/streamed factor == one-shot QR; row construction.

Uses a synthetic design-row provider (deterministic pseudo-random rows per structure),
so these tests do not need the compiled core.
"""
from types import SimpleNamespace

import numpy as np
import pytest
from ase import Atoms

from ace_lin.data.read import Config
from ace_lin.fit.assemble import StreamingQR, assemble, config_rows, make_blocks
from ace_lin.fit.solvers import RidgeSolver
from ace_lin.fit.weights import WeightSettings, config_row_weights

ELEMENTS = ["Si", "O"]
P = 12


def fake_provider(atoms):
    """Design rows and reference terms that depend only on the structure (seeded by it)."""
    seed = int(abs(np.sum(atoms.positions) * 1e6)) % 2**32
    rng = np.random.default_rng(seed)
    n = len(atoms)
    design = SimpleNamespace(energy=rng.normal(size=P) * n, forces=rng.normal(size=(n, 3, P)),
                             virial=rng.normal(size=(6, P)) * 10)
    ref = SimpleNamespace(energy=rng.normal(), forces=rng.normal(size=(n, 3)),
                          virial=rng.normal(size=6))
    return design, ref


def make_configs(n_configs=15, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n_configs):
        n = int(rng.integers(2, 7))
        symbols = rng.choice(ELEMENTS, size=n)
        periodic = k % 3 != 0
        atoms = Atoms(symbols=list(symbols), positions=rng.uniform(0, 6, size=(n, 3)),
                      cell=np.diag(rng.uniform(6, 8, size=3)) if periodic else None,
                      pbc=periodic)
        stress = rng.normal(size=6) * 0.01 if periodic and k % 2 else None
        out.append(Config(atoms=atoms, energy=float(rng.normal() * n), forces=rng.normal(size=(n, 3)),
                          stress=stress, weight=float(rng.uniform(0.5, 2)),
                          config_type=["bulk", "surface"][k % 2], source=f"synthetic:{k}"))
    return out


SETTINGS = WeightSettings(energy=30.0, forces=1.0, stress=2.0,
                          config_types={"surface": {"energy": 0.5, "stress": 3.0}})


def dense_system(configs, e0_fixed, e0_fit):
    rows = [config_rows(c, *fake_provider(c.atoms), SETTINGS, ELEMENTS, e0_fixed, e0_fit)
            for c in configs]
    return np.vstack([r[0] for r in rows]), np.concatenate([r[1] for r in rows])


@pytest.mark.parametrize("sizes", [(37,), (60,), (13, 90, 7, 50)])
def test_streaming_qr_matches_one_shot(sizes):
    """Blocks shorter than 2(p+1) rows are folded by dtpqrt, taller ones by their own QR
    (dgeqrt) and a triangular fold: any mix gives the factor of one QR of all rows."""
    rng = np.random.default_rng(1)
    A = rng.normal(size=(500, 20)) * 10.0 ** rng.uniform(-3, 3, size=20)
    y = rng.normal(size=500)
    acc = StreamingQR(20)
    start, k = 0, 0
    while start < 500:  # uneven blocks, some shorter than p
        m = sizes[k % len(sizes)]
        acc.add(A[start:start + m], y[start:start + m])
        start, k = start + m, k + 1
    F = acc.factor()
    R, qty = F[:20, :20], F[:20, 20]
    R1 = np.linalg.qr(A, mode="r")
    np.testing.assert_allclose(R.T @ R, R1.T @ R1, rtol=1e-10, atol=1e-12 * np.abs(R1.T @ R1).max())
    c = np.linalg.solve(R, qty)
    c_ref, res, *_ = np.linalg.lstsq(A, y, rcond=None)
    np.testing.assert_allclose(c, c_ref, rtol=1e-9)
    assert F[20, 20] ** 2 == pytest.approx(res[0], rel=1e-9)
    assert np.all(np.diag(F) >= 0) and acc.n_rows == 500


def test_merge_equals_single_stream():
    rng = np.random.default_rng(2)
    A, y = rng.normal(size=(300, 8)), rng.normal(size=300)
    one, a, b = StreamingQR(8), StreamingQR(8), StreamingQR(8)
    one.add(A, y)
    a.add(A[:120], y[:120])
    b.add(A[120:], y[120:])
    a.merge(b)
    np.testing.assert_allclose(a.factor(), one.factor(), rtol=1e-10, atol=1e-12)
    assert a.n_rows == 300


def test_config_rows_weights_and_targets():
    c = make_configs(6)[5]  # periodic, with stress, config_type "surface"
    assert c.stress is not None and all(c.atoms.pbc)
    design, ref = fake_provider(c.atoms)
    e0_fixed = {"Si": -3.0}
    A, y, counts = config_rows(c, design, ref, SETTINGS, ELEMENTS, e0_fixed, ["O"])
    n, vol = len(c.atoms), c.atoms.get_volume()
    w = config_row_weights(SETTINGS, n, vol, "surface", c.weight, True)
    assert w.energy == pytest.approx(30.0 * 0.5 * c.weight * np.sqrt(n))
    assert w.stress == pytest.approx(2.0 * 3.0 * c.weight * vol / n * np.sqrt(n))
    assert counts == {"energy": 1, "forces": 3 * n, "stress": 6}
    n_si, n_o = c.species_counts(ELEMENTS)
    # energy row: per atom, minus fixed E0 and reference; E0(O) column counts O atoms / N
    np.testing.assert_allclose(A[0, :P], w.energy * design.energy / n)
    assert A[0, P] == pytest.approx(w.energy * n_o / n)
    assert y[0] == pytest.approx(w.energy * (c.energy - n_si * -3.0 - ref.energy) / n)
    np.testing.assert_allclose(A[1:1 + 3 * n, :P], w.forces * design.forces.reshape(3 * n, P))
    np.testing.assert_allclose(y[1:1 + 3 * n], w.forces * (c.forces - ref.forces).ravel())
    assert np.all(A[1:, P] == 0)  # E0 enters energies only
    np.testing.assert_allclose(A[-6:, :P], w.stress * design.virial / vol)
    np.testing.assert_allclose(y[-6:], w.stress * (c.stress - ref.virial / vol))


def test_zero_weight_rows_are_left_out():
    c = make_configs(6)[5]
    settings = WeightSettings(energy=1.0, forces=0.0, stress=0.0)
    A, y, counts = config_rows(c, *fake_provider(c.atoms), settings, ELEMENTS, {"Si": 0, "O": 0}, [])
    assert A.shape == (1, P) and counts == {"energy": 1, "forces": 0, "stress": 0}


@pytest.mark.parametrize("block_rows", [1, 25, 80, None])
def test_streamed_assembly_equals_dense(block_rows):
    configs = make_configs()
    e0_fixed, e0_fit = {"Si": -1.5}, ["O"]
    sysm = assemble(configs, P, fake_provider, SETTINGS, ELEMENTS, e0_fixed, e0_fit,
                    block_rows=block_rows)
    A, y = dense_system(configs, e0_fixed, e0_fit)
    assert sysm.n_rows == A.shape[0] == sysm.counts["energy"] + sysm.counts["forces"] + \
        sysm.counts["stress"]
    R1 = np.linalg.qr(A, mode="r")
    np.testing.assert_allclose(sysm.R.T @ sysm.R, R1.T @ R1, rtol=1e-9,
                               atol=1e-11 * np.abs(R1.T @ R1).max())
    c_ref, res, *_ = np.linalg.lstsq(A, y, rcond=None)
    c = RidgeSolver(lam=0.0).solve(sysm.R, sysm.qty).coefficients
    np.testing.assert_allclose(c, c_ref, rtol=1e-8)
    assert sysm.rss0 == pytest.approx(res[0], rel=1e-8)


def test_assembly_is_bit_identical_when_repeated():
    configs = make_configs()
    s1 = assemble(configs, P, fake_provider, SETTINGS, ELEMENTS, {"Si": 0.0, "O": 0.0}, [],
                  block_rows=30)
    s2 = assemble(configs, P, fake_provider, SETTINGS, ELEMENTS, {"Si": 0.0, "O": 0.0}, [],
                  block_rows=30)
    assert np.array_equal(s1.R, s2.R) and np.array_equal(s1.qty, s2.qty) and s1.rss0 == s2.rss0


def test_missing_e0_is_an_error():
    with pytest.raises(ValueError, match="no E0 for element"):
        assemble(make_configs(3), P, fake_provider, SETTINGS, ELEMENTS, {"Si": 0.0}, [])


def test_blocks_cover_all_configs_in_order():
    configs = make_configs(20)
    blocks = make_blocks(configs, P, block_rows=40)
    assert [i for b in blocks for i in b] == list(range(20))
    assert all(b for b in blocks)


def test_default_blocks_follow_the_memory_cap_and_the_ranks():
    configs = make_configs(20)
    rows = [1 + 3 * len(c.atoms) + (6 if c.stress is not None else 0) for c in configs]
    assert make_blocks(configs, P) == [list(range(20))]  # small: one block
    cap_mb = 60 * 8 * (P + 1) / 2**20  # room for 60 rows
    blocks = make_blocks(configs, P, max_block_mb=cap_mb)
    assert len(blocks) > 1 and [i for b in blocks for i in b] == list(range(20))
    assert all(sum(rows[i] for i in b) <= 60 or len(b) == 1 for b in blocks)
    # under MPI every rank gets a block, even when all rows would fit in one
    assert len(make_blocks(configs, P, n_ranks=4)) >= 4


MPI_SCRIPT = """
import sys, numpy as np
sys.path[:0] = [{tests!r}, {root!r}]
from mpi4py import MPI
assert MPI.COMM_WORLD.Get_size() == 2, "mpirun did not start 2 ranks of one job"
from test_assemble import (make_configs, fake_provider, SETTINGS, ELEMENTS, P)
from ace_lin.fit.assemble import assemble
s = assemble(make_configs(), P, fake_provider, SETTINGS, ELEMENTS, {{"Si": -1.5}}, ["O"],
             block_rows=25, comm=MPI.COMM_WORLD)
if MPI.COMM_WORLD.Get_rank() == 0:
    np.savez({out!r}, R=s.R, qty=s.qty, rss0=s.rss0, n_rows=s.n_rows)
"""


@pytest.mark.mpi
def test_mpi_reduction_equals_serial(tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    pytest.importorskip("mpi4py")
    if shutil.which("mpirun") is None:
        pytest.skip("mpirun not found")
    out = tmp_path / "mpi.npz"
    script = tmp_path / "run.py"
    import ace_lin

    root = os.path.dirname(os.path.dirname(os.path.abspath(ace_lin.__file__)))
    script.write_text(MPI_SCRIPT.format(tests=os.path.dirname(os.path.abspath(__file__)),
                                        root=root, out=str(out)))
    res = subprocess.run(["mpirun", "-n", "2", sys.executable, str(script)], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    got = np.load(out)
    ref = assemble(make_configs(), P, fake_provider, SETTINGS, ELEMENTS, {"Si": -1.5}, ["O"],
                   block_rows=25)
    assert int(got["n_rows"]) == ref.n_rows
    np.testing.assert_allclose(got["R"].T @ got["R"], ref.R.T @ ref.R, rtol=1e-9,
                               atol=1e-11 * np.abs(ref.R).max() ** 2)
    c_mpi = np.linalg.solve(got["R"], got["qty"])
    np.testing.assert_allclose(c_mpi, np.linalg.solve(ref.R, ref.qty), rtol=1e-8)
