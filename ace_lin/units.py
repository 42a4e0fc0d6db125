"""Units and conventions: the only place where units are converted.

ace_lin works in eV and Angstrom: forces eV/A, stress eV/A^3 with ASE's sign
(stress = (1/V) dE/d(strain), positive under tension) and Voigt order xx yy zz yz xz xy.
"""
import numpy as np

EV_PER_A3_IN_GPA = 160.21766208   # 1 eV/A^3 in GPa
VOIGT_ORDER = ("xx", "yy", "zz", "yz", "xz", "xy")
VOIGT_PAIRS = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


def virial_to_stress(virial_voigt_eV: np.ndarray, volume_A3: float) -> np.ndarray:
    """virial = dE/d(strain) (eV, Voigt) -> ASE stress (eV/A^3)."""
    if not volume_A3 > 0:
        raise ValueError("stress needs a cell with a positive volume")
    return np.asarray(virial_voigt_eV) / volume_A3


def stress_to_GPa(stress_eV_A3):
    return np.asarray(stress_eV_A3) * EV_PER_A3_IN_GPA
