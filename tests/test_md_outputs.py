"""The text of the MD outputs' per-atom rows (ace_lin.md._rows, C's "%.12g" on OpenMP
threads) is Python's "%.12g" text, byte for byte, on any thread count."""
import numpy as np
import pytest
from ase.io import read

from ace_lin.md._rows import format_rows
from ace_lin.md.outputs import FLOAT, format_frame, frame_info


def python_rows(symbols, rows):
    fmt = "%s" + (" " + FLOAT) * rows.shape[1] + "\n"
    return "".join(fmt % (s, *row) for s, row in zip(symbols, rows.tolist()))


EDGES = [0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, 1e-300, 5e-324, 2.2250738585072014e-308,
         1.7976931348623157e308, 0.1, 1 / 3, 1e16, 1e-5, 1e-4, 9.99999999999e-5,
         999999999999.5, 123456789012.5, 123456789013.5, 1234567890123.0, 0.5, -2.5e-7]


@pytest.mark.parametrize("threads", [1, 2, 3, 7, 0])
def test_rows_are_pythons_text_on_any_thread_count(threads):
    rng = np.random.default_rng(3)
    # random doubles of every exponent (raw bit patterns), a typical frame, and edge values
    bits = rng.integers(0, 2**63, size=30000, dtype=np.int64).view(np.float64)
    bits = np.where(rng.random(bits.size) < 0.5, bits, -bits)
    cases = [bits.reshape(-1, 10), (rng.random((1001, 10)) - 0.5) * 20.0,
             np.array(EDGES).reshape(1, -1), np.zeros((5, 0)),
             # ties and near-ties at the 12th significant digit
             (np.arange(123456789000, 123456789040) + 0.5).reshape(-1, 1)]
    for rows in cases:
        symbols = [("Si", "O", "Uuo", "H")[k % 4] for k in range(len(rows))]
        assert format_rows(symbols, rows, threads) == python_rows(symbols, rows)
    assert format_rows([], np.zeros((0, 10)), threads) == ""
    assert format_rows(["H"], np.array([[-np.nan, np.nan]]), threads) == "H nan nan\n"


def test_rows_refuse_a_mismatch():
    with pytest.raises(ValueError, match="2 symbols"):
        format_rows(["Si", "Si"], np.zeros((3, 10)))
    with pytest.raises(ValueError):
        format_rows(["Si"], np.zeros(10))


def test_a_frame_reads_back(tmp_path):
    rng = np.random.default_rng(5)
    n = 7
    pos, vel, forces = (rng.normal(size=(n, 3)) for _ in range(3))
    energies = rng.normal(size=n)
    cell = np.diag([5.0, 6.0, 7.0])
    text = format_frame(["Si"] * 4 + ["O"] * 3, cell, [True] * 3, pos, vel, forces, energies,
                        frame_info(12, 6.0, energies.sum(), 1.5, 300.0, 0.1))
    path = tmp_path / "f.extxyz"
    path.write_text(text)
    atoms = read(path)
    assert atoms.get_chemical_symbols() == ["Si"] * 4 + ["O"] * 3
    np.testing.assert_allclose(atoms.positions, pos, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), forces, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(atoms.arrays["velocities"], vel, rtol=1e-11, atol=1e-12)
    assert atoms.info["step"] == 12
