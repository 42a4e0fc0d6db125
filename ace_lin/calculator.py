"""ACECalculator: an ASE calculator on the C core.

Properties: energy, free_energy (eV), energies (eV per atom), forces (eV/A) and stress
(eV/A^3, ASE sign and Voigt order xx yy zz yz xz xy; only for 3D-periodic cells).
"""
import os

import numpy as np
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from ace_lin.evaluate import compute_properties
from ace_lin.model import LinearACEModel, load_model
from ace_lin.units import virial_to_stress


class ACECalculator(Calculator):
    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, model_or_path, n_threads: int = 0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(model_or_path, (str, os.PathLike)):
            model_or_path = load_model(model_or_path)
        if not isinstance(model_or_path, LinearACEModel):
            raise TypeError("ACECalculator needs a LinearACEModel or the path of a model file")
        self.model = model_or_path
        self.n_threads = int(n_threads)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        p = compute_properties(self.model.core, self.model.elements, self.atoms, self.n_threads)
        self.results = {"energy": p.energy, "free_energy": p.energy, "energies": p.energies,
                        "forces": p.forces}
        if all(self.atoms.pbc):
            self.results["stress"] = virial_to_stress(p.virial, self.atoms.get_volume())
        elif "stress" in properties:
            raise PropertyNotImplementedError("stress needs a cell periodic in all three directions")
