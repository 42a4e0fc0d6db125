"""No result of the core may depend on memory that nothing wrote.

The core's work arrays are not zeroed on allocation (most are written in full before they
are read, and zeroing them would cost every call). With ACE_LIN_POISON_MEMORY=1 the core
fills every new work array with 0xFF bytes (a NaN in every double); a child process
evaluates the same models and structures that way, and every energy, force, virial, design
row, grade and atomic base must equal the parent's bit for bit. A read of an unwritten
entry then shows as a NaN or as a changed number.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("ace_lin._core")

from ace_lin import BasisSpec  # noqa: E402
from helpers import random_model, random_structure  # noqa: E402

SPECS = {
    # short channel only, per-pair cutoffs
    "two elements": BasisSpec(elements=["Si", "O"], order=4, degree=(8, 8, 7, 6),
                              r_cut={"Si-Si": 4.6, "Si-O": 4.2, "O-O": 3.9}, r_in=0.9, r_core=1.5),
    # far neighbours (beyond the short cutoff) take the long channel's reduced path
    "long-range channel": BasisSpec(elements=["Si", "Ge"], order=3, degree=(7, 7, 5), r_cut=4.0,
                                    r_in=1.0, r_core=1.6, long_r_cut=6.0, long_order=2,
                                    long_degree=(8, 7), long_lmax=3),
}

CHILD = r"""
import sys
import numpy as np
from ase.io import read
from ace_lin.model import load_model
from ace_lin.evaluate import species_indices
from ace_lin.neighbours import neighbour_list_from_atoms

model = load_model(sys.argv[1])
atoms = read(sys.argv[2])
core = model.core
nl = neighbour_list_from_atoms(atoms, core.max_cutoff)
sp = species_indices(atoms, model.spec.elements)
out = {}
for nt in (1, 2):
    e, ea, f, v = core.evaluate(sp, nl.start, nl.j, sp[nl.j], nl.dr, n_threads=nt)
    out[f"evaluate{nt}"] = np.concatenate([[e], ea, f.ravel(), v])
erow, frows, vrows = core.design(sp, nl.start, nl.j, sp[nl.j], nl.dr, n_threads=2)
out["design"] = np.concatenate([erow, frows.ravel(), vrows.ravel()])
out["atomic_base"] = np.asarray(core.atomic_base(sp, nl.start, sp[nl.j], nl.dr, n_threads=2)).ravel()
np.savez(sys.argv[3], **out)
"""


def run_child(model_path, atoms_path, out_path, poison):
    env = dict(os.environ, ACE_LIN_POISON_MEMORY="1" if poison else "0")
    res = subprocess.run([sys.executable, "-c", CHILD, model_path, atoms_path, out_path],
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    with np.load(out_path) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_results_do_not_read_unwritten_memory(name, tmp_path):
    spec = SPECS[name]
    model = random_model(spec, seed=5)
    model_path = str(tmp_path / "model.json")
    model.save(model_path)
    atoms = random_structure(list(spec.elements), 14, 11, periodic=True, triclinic=True, density=0.05)
    atoms_path = str(tmp_path / "atoms.xyz")
    atoms.write(atoms_path, format="extxyz")
    clean = run_child(model_path, atoms_path, str(tmp_path / "clean.npz"), poison=False)
    poisoned = run_child(model_path, atoms_path, str(tmp_path / "poisoned.npz"), poison=True)
    assert np.abs(clean["evaluate1"][len(atoms) + 1:]).max() > 1e-3  # forces are not all zero
    for key, ref in clean.items():
        assert np.all(np.isfinite(ref)), key
        assert np.array_equal(ref, poisoned[key]), f"{name}: {key} depends on unwritten memory"

