"""Error tables: MAE and RMSE, overall and per config_type.

Units of the tables: energy meV/atom (error of E/N per configuration), forces eV/A (per
Cartesian component), stress GPa (per Voigt component; only configurations that have a
reference stress).
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

from ace_lin.units import EV_PER_A3_IN_GPA

MEV_PER_EV = 1000.0


@dataclass
class Prediction:
    """Model values for one configuration: energy eV, forces [n, 3] eV/A,
    stress [6] eV/A^3 (ASE sign, Voigt) or None."""
    energy: float
    forces: np.ndarray
    stress: Optional[np.ndarray] = None


def predict(configs: Sequence, calculator) -> List[Prediction]:
    """Evaluate an ASE calculator on every configuration (stress only where the
    configuration has a reference stress)."""
    out = []
    for c in configs:
        atoms = c.atoms.copy()
        atoms.calc = calculator
        energy = float(atoms.get_potential_energy())
        forces = np.array(atoms.get_forces())
        stress = np.array(atoms.get_stress(voigt=True)) if c.stress is not None else None
        out.append(Prediction(energy, forces, stress))
    return out


def _mae_rmse(err: np.ndarray):
    if err.size == 0:
        return None, None
    return float(np.mean(np.abs(err))), float(np.sqrt(np.mean(err * err)))


def _group_errors(configs, preds) -> dict:
    n_atoms = np.array([c.n_atoms for c in configs], dtype=float)
    de = np.array([(p.energy - c.energy) for c, p in zip(configs, preds)]) / n_atoms * MEV_PER_EV
    df = np.concatenate([(p.forces - c.forces).ravel() for c, p in zip(configs, preds)]) \
        if configs else np.zeros(0)
    ds = [(p.stress - c.stress) * EV_PER_A3_IN_GPA for c, p in zip(configs, preds)
          if c.stress is not None and p.stress is not None]
    ds = np.concatenate(ds) if ds else np.zeros(0)
    e_mae, e_rmse = _mae_rmse(de)
    f_mae, f_rmse = _mae_rmse(df)
    s_mae, s_rmse = _mae_rmse(ds)
    return {"n_configs": len(configs), "n_atoms": int(n_atoms.sum()),
            "energy_mae": e_mae, "energy_rmse": e_rmse,
            "force_mae": f_mae, "force_rmse": f_rmse,
            "stress_mae": s_mae, "stress_rmse": s_rmse, "n_stress": int(ds.size // 6)}


def error_table(configs: Sequence, predictions: Sequence[Prediction]) -> dict:
    """{overall keys..., "by_config_type": {name: {...}}}: energy_mae/rmse (meV/atom),
    force_mae/rmse (eV/A), stress_mae/rmse (GPa or None), n_configs, n_atoms, n_stress."""
    if len(configs) != len(predictions):
        raise ValueError("one prediction per configuration needed")
    table = _group_errors(list(configs), list(predictions))
    groups: Dict[str, list] = {}
    for i, c in enumerate(configs):
        groups.setdefault(c.config_type, []).append(i)
    table["by_config_type"] = {
        name: _group_errors([configs[i] for i in idx], [predictions[i] for i in idx])
        for name, idx in sorted(groups.items())}
    return table


def _fmt(v, width, digits):
    return f"{'-':>{width}}" if v is None else f"{v:{width}.{digits}f}"


def format_table(table: dict, title: str = "") -> str:
    """Fixed-width text table, one line per config_type and one for all."""
    head = (f"{'config_type':<20} {'n_cfg':>6} {'n_atoms':>8} {'E MAE':>9} {'E RMSE':>9} "
            f"{'F MAE':>8} {'F RMSE':>8} {'S MAE':>8} {'S RMSE':>8}")
    units = (f"{'':<20} {'':>6} {'':>8} {'meV/at':>9} {'meV/at':>9} "
             f"{'eV/A':>8} {'eV/A':>8} {'GPa':>8} {'GPa':>8}")

    def line(name, g):
        return (f"{name[:20]:<20} {g['n_configs']:>6d} {g['n_atoms']:>8d} "
                f"{_fmt(g['energy_mae'], 9, 3)} {_fmt(g['energy_rmse'], 9, 3)} "
                f"{_fmt(g['force_mae'], 8, 4)} {_fmt(g['force_rmse'], 8, 4)} "
                f"{_fmt(g['stress_mae'], 8, 3)} {_fmt(g['stress_rmse'], 8, 3)}")

    rows = [title] if title else []
    rows += [head, units, "-" * len(head)]
    rows += [line(name, g) for name, g in table["by_config_type"].items()]
    rows += ["-" * len(head), line("ALL", table)]
    return "\n".join(rows)
