"""ACECalculator: an ASE calculator on the C core.

Properties: energy, free_energy (eV), energies (eV per atom), forces (eV/A) and stress
(eV/A^3, ASE sign and Voigt order xx yy zz yz xz xy; only for 3D-periodic cells).
With a model that has an active set: gamma (per-atom extrapolation grade, > 1 means
extrapolation) and max_gamma. With committee=True (or a number of members >= 2) and a
model that keeps its posterior: energy_std (eV) and forces_std (eV/A, [N, 3]), the spread
of a seeded committee drawn from the posterior (ace_lin/trust/committee.py); the
committee's mean is the model's own prediction. When the posterior keeps the fit's noise
model (files written by this version): also energy_std_predictive (eV) and
forces_std_predictive (eV/A, [N, 3]), the committee spread and the fit's noise added in
quadrature: the expected spread of the DFT value around the prediction, the one to compare
with DFT errors (benchmarks/trust_mlearn_si.py).
"""
import os

import numpy as np

from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from ace_lin.evaluate import compute_properties, design_rows
from ace_lin.model import LinearACEModel, load_model
from ace_lin.neighbours import VerletNeighbours
from ace_lin.trust.committee import DEFAULT_MEMBERS, committee_spread
from ace_lin.units import virial_to_stress


class ACECalculator(Calculator):
    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress",
                              "gamma", "max_gamma", "energy_std", "forces_std",
                              "energy_std_predictive", "forces_std_predictive"]

    def __init__(self, model_or_path, n_threads: int = 0, committee=False, seed: int = 0,
                 grade=None, skin: float = 0.5, **kwargs):
        """committee: False, True (DEFAULT_MEMBERS members) or the number of members;
        seed: of the committee draw (same seed, same members); grade: compute gamma (None:
        when the model has an active set); skin (A): the neighbour list of a moving
        structure is reused while no atom moved by skin/2 (VerletNeighbours: the same
        bonds bit for bit, so the same results; 0 builds it at every call)."""
        super().__init__(**kwargs)
        if isinstance(model_or_path, (str, os.PathLike)):
            model_or_path = load_model(model_or_path)
        if not isinstance(model_or_path, LinearACEModel):
            raise TypeError("ACECalculator needs a LinearACEModel or the path of a model file")
        self.model = model_or_path
        self.n_threads = int(n_threads)
        self.neighbours = VerletNeighbours(model_or_path.core.max_cutoff, skin)
        self.grade = model_or_path.has_active_set if grade is None else bool(grade)
        if self.grade and not model_or_path.has_active_set:
            raise ValueError("grade=True, but the model has no active set (build one with "
                             "`ace-lin activeset MODEL TRAIN_DATA`)")
        self.deviations = None
        if committee is not False and committee is not None:
            if isinstance(committee, bool):
                n_members = DEFAULT_MEMBERS
            elif isinstance(committee, int) and committee >= 2:
                n_members = committee
            else:
                raise ValueError(f"committee: expected True, False or a number of members >= 2, "
                                 f"got {committee!r}")
            if model_or_path.posterior is None:
                raise ValueError("committee needs the fit's posterior, and this model has none "
                                 "(fit it with trust.posterior: true)")
            self.deviations = model_or_path.posterior.deviations(n_members, seed)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        p = compute_properties(self.model.core, self.model.elements, self.atoms, self.n_threads,
                               neighbours=self.neighbours.from_atoms)
        self.results = {"energy": p.energy, "free_energy": p.energy, "energies": p.energies,
                        "forces": p.forces}
        if all(self.atoms.pbc):
            self.results["stress"] = virial_to_stress(p.virial, self.atoms.get_volume())
        elif "stress" in properties:
            raise PropertyNotImplementedError("stress needs a cell periodic in all three directions")
        if self.grade:
            gamma = self.model.grade(self.atoms, self.n_threads, self.neighbours.from_atoms)
            self.results["gamma"] = gamma
            self.results["max_gamma"] = float(gamma.max())
        if self.deviations is not None:
            rows = design_rows(self.model, self.atoms, self.n_threads)
            symbols = self.atoms.get_chemical_symbols()
            counts = [symbols.count(el) for el in self.model.posterior.e0_elements]
            e_std, f_std = committee_spread(self.deviations, rows.energy, rows.forces, counts)
            self.results["energy_std"] = e_std
            self.results["forces_std"] = f_std
            noise = self.model.posterior.noise
            if noise is not None:
                self.results["energy_std_predictive"] = float(
                    np.hypot(e_std, noise.energy_std(len(self.atoms))))
                self.results["forces_std_predictive"] = np.hypot(f_std, noise.forces_std())
