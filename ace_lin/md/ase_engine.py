"""The ASE engine: the stages of an MD run with ASE's own integrators and ACECalculator.

nve: VelocityVerlet; nvt-langevin: Langevin (BBK-type, friction = 1/tau); nvt-csvr: Bussi
(stochastic velocity rescaling, relaxation time tau); nvt-nose-hoover: NoseHooverChainNVT
(chain of 3, tdamp = tau); npt: IsotropicMTKNPT (MTK, isotropic cell, tdamp = tau,
pdamp = tau_p). The centre of mass is held by a FixCom constraint (not by Langevin's
fixcm, which does not sample the NVT distribution exactly); ASE's MTK integrators take no
constraints, so an npt stage runs without it (its total force is zero anyway).

Resume: the checkpoint holds the positions, momenta, cell, random-generator state and the
thermostat's variables; the resumed run repeats the uninterrupted one bit for bit (one
random generator, drawn in the same order; forces recomputed from identical positions).
"""
import os
import time

import numpy as np
from ase import units
from ase.constraints import FixCom

from ace_lin.md import outputs as out
from ace_lin.md.checkpoint import CHECKPOINT, load_checkpoint, save_checkpoint
from ace_lin.md.progress import MDProgress
from ace_lin.md.start import initial_momenta

FILES = (out.TRAJECTORY, out.THERMO, out.CANDIDATES)


def make_dynamics(atoms, stage, dt_fs, rng):
    dt, tau = dt_fs * units.fs, stage.tau * units.fs
    if stage.ensemble == "npt":
        from ase.md.nose_hoover_chain import IsotropicMTKNPT

        atoms.set_constraint()
        return IsotropicMTKNPT(atoms, timestep=dt, temperature_K=stage.temperature,
                               pressure_au=stage.pressure * units.GPa, tdamp=tau,
                               pdamp=stage.tau_p * units.fs)
    if not any(isinstance(c, FixCom) for c in atoms.constraints):
        atoms.set_constraint(FixCom())
    if stage.ensemble == "nve":
        from ase.md.verlet import VelocityVerlet

        return VelocityVerlet(atoms, timestep=dt)
    if stage.ensemble == "nvt-langevin":
        from ase.md.langevin import Langevin

        return Langevin(atoms, timestep=dt, temperature_K=stage.temperature, friction=1.0 / tau,
                        rng=rng, fixcm=False)
    if stage.ensemble == "nvt-csvr":
        from ase.md.bussi import Bussi

        return Bussi(atoms, timestep=dt, temperature_K=stage.temperature, taut=tau, rng=rng)
    if stage.ensemble == "nvt-nose-hoover":
        from ase.md.nose_hoover_chain import NoseHooverChainNVT

        return NoseHooverChainNVT(atoms, timestep=dt, temperature_K=stage.temperature, tdamp=tau)
    raise ValueError(f"unknown ensemble {stage.ensemble!r}")


# the variables of each integrator that are not positions and momenta
_STATE = {"nvt-csvr": ("transferred_energy",),
          "nvt-nose-hoover": ("_thermostat._eta", "_thermostat._p_eta"),
          "npt": ("_thermostat._eta", "_thermostat._p_eta", "_barostat._xi", "_barostat._p_xi",
                  "_eps", "_p_eps", "_cell0", "_volume0")}


def _get(obj, dotted):
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def thermostat_state(dyn, ensemble) -> dict:
    return {k: np.array(_get(dyn, k)).tolist() for k in _STATE.get(ensemble, ())}


def set_thermostat_state(dyn, ensemble, state: dict):
    for k in _STATE.get(ensemble, ()):
        head, _, last = k.rpartition(".")
        obj = _get(dyn, head) if head else dyn
        old = getattr(obj, last)
        setattr(obj, last, np.array(state[k]) if isinstance(old, np.ndarray) else float(state[k]))


def kinetic_temperature(ekin, n_atoms) -> float:
    dof = 3 * n_atoms - 3 if n_atoms > 1 else 3
    return 2.0 * ekin / (dof * units.kB)


class _Recorder:
    """Writes frames, thermo rows and candidate frames of the running atoms."""

    def __init__(self, folder, cfg, with_grade):
        self.folder, self.cfg, self.with_grade = folder, cfg, with_grade
        self.last_gamma = None

    def path(self, name):
        return os.path.join(self.folder, name)

    def record(self, atoms, step):
        calc = atoms.calc
        epot = atoms.get_potential_energy()
        forces = atoms.get_forces(apply_constraint=False)
        energies = calc.results["energies"]
        ekin = atoms.get_kinetic_energy()
        temp = kinetic_temperature(ekin, len(atoms))
        pressure = float("nan")
        if all(atoms.pbc):
            stress = atoms.get_stress(voigt=False, include_ideal_gas=True)
            pressure = -np.trace(stress) / 3.0 / units.GPa
        gamma = None
        if self.with_grade and self.cfg.graded(step):  # on graded frames only, as LAMMPS's fix
            # pair does (a graded step costs several force calls: benchmarks/lammps_grade_cost.py)
            gamma = float(np.max(calc.model.grade(atoms, calc.n_threads,
                                                  calc.neighbours.from_atoms)))
        self.last_gamma = gamma
        t_fs = step * self.cfg.timestep
        frame = out.format_frame(atoms.get_chemical_symbols(), atoms.cell.array, atoms.pbc,
                                 atoms.positions, atoms.get_velocities() * units.fs, forces,
                                 energies, out.frame_info(step, t_fs, epot, ekin, temp,
                                                          pressure, gamma))
        out.append(self.path(out.TRAJECTORY), frame)
        out.append(self.path(out.THERMO), out.thermo_row(step, t_fs, temp, epot, ekin, pressure,
                                                         gamma, grade_column=self.with_grade))
        thr = self.cfg.grade_threshold
        if gamma is not None and thr is not None and gamma > thr:
            out.append(self.path(out.CANDIDATES), frame)
        return gamma


def _fresh_start(folder, cfg, atoms, rng, with_grade):
    for name in FILES:
        if os.path.exists(os.path.join(folder, name)):
            os.remove(os.path.join(folder, name))
    t0 = cfg.initial_temperature if cfg.initial_temperature is not None else cfg.stages[0].temperature
    atoms.set_momenta(initial_momenta(atoms, t0, rng), apply_constraint=False)
    out.append(os.path.join(folder, out.THERMO), out.thermo_header(with_grade))


def run_ase(cfg, model, atoms, progress=True) -> dict:
    """Run (or resume) the stages of cfg in cfg.output. Returns a summary dict."""
    from ace_lin.calculator import ACECalculator

    folder = cfg.output
    os.makedirs(folder, exist_ok=True)
    with_grade = bool(getattr(model, "has_active_set", False))
    atoms = atoms.copy()
    atoms.calc = ACECalculator(model, n_threads=cfg.threads, grade=False)
    rng = np.random.default_rng(cfg.seed)
    rec = _Recorder(folder, cfg, with_grade)
    ck_path = os.path.join(folder, CHECKPOINT)
    fps = cfg.fingerprints()  # current, legacy
    fp = fps[0]
    step, stage_idx, stage_step, th_state = 0, 0, 0, None
    if os.path.exists(ck_path):
        st = load_checkpoint(ck_path, fps)
        for name in FILES:
            out.truncate(os.path.join(folder, name), st["files"].get(name, 0))
        atoms.set_cell(st["cell"])
        atoms.pbc = st["pbc"]
        atoms.set_positions(np.array(st["positions"]), apply_constraint=False)
        atoms.set_momenta(np.array(st["momenta"]), apply_constraint=False)
        rng.bit_generator.state = st["rng_state"]
        step, stage_idx, stage_step = st["step"], st["stage"], st["stage_step"]
        th_state = st.get("thermostat")
        stopped = st.get("stopped_gamma")
        if stopped is not None and cfg.max_grade_stop is not None and stopped > cfg.max_grade_stop:
            return {"steps": step, "stopped": stopped, "resumed": True, "n_atoms": len(atoms),
                    "ns_per_day": 0.0, "wall_s": 0.0}
        resumed = True
    else:
        _fresh_start(folder, cfg, atoms, rng, with_grade)
        resumed = False

    def checkpoint(dyn, ensemble, stopped_gamma=None):
        done = (stage_idx < len(cfg.stages) and stage_step >= cfg.stages[stage_idx].steps
                and stopped_gamma is None)
        save_checkpoint(ck_path, {
            "engine": "ase", "fingerprint": fp, "step": step,
            "stage": stage_idx + 1 if done else stage_idx, "stage_step": 0 if done else stage_step,
            "positions": atoms.get_positions(), "momenta": atoms.get_momenta(),
            "cell": atoms.cell.array, "pbc": [bool(p) for p in atoms.pbc],
            "rng_state": rng.bit_generator.state,
            "thermostat": None if done or dyn is None else thermostat_state(dyn, ensemble),
            "files": out.file_sizes(folder, FILES), "stopped_gamma": stopped_gamma})

    bar = MDProgress(cfg.total_steps, step, cfg.timestep, enabled=progress)
    t_wall = time.perf_counter()
    step_at_start = step
    stopped = None
    try:
        if not resumed:
            gamma = rec.record(atoms, 0)
            if gamma is not None and cfg.max_grade_stop is not None and gamma > cfg.max_grade_stop:
                stopped = gamma
            checkpoint(None, None, stopped_gamma=stopped)
        while stage_idx < len(cfg.stages) and stopped is None:
            stage = cfg.stages[stage_idx]
            dyn = make_dynamics(atoms, stage, cfg.timestep, rng)
            if th_state and stage_step > 0:
                set_thermostat_state(dyn, stage.ensemble, th_state)
            th_state = None
            stride = cfg.stage_stride(stage_idx)
            while stage_step < stage.steps:
                dyn.step()
                step += 1
                stage_step += 1
                if step % stride == 0:
                    gamma = rec.record(atoms, step)
                    if (gamma is not None and cfg.max_grade_stop is not None
                            and gamma > cfg.max_grade_stop):
                        stopped = gamma
                        checkpoint(dyn, stage.ensemble, stopped_gamma=gamma)
                        break
                if step % cfg.checkpoint_every == 0 or stage_step == stage.steps:
                    checkpoint(dyn, stage.ensemble)
                bar.update_to(step)
            if stopped is None:
                stage_idx += 1
                stage_step = 0
    finally:
        bar.close()
    wall = time.perf_counter() - t_wall
    ns_day = (step - step_at_start) * cfg.timestep * 1e-6 / wall * 86400 if wall > 0 else 0.0
    return {"steps": step, "stopped": stopped, "resumed": resumed, "n_atoms": len(atoms),
            "ns_per_day": ns_day, "wall_s": wall}
