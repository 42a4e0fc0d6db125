"""Run NVE (velocity Verlet) or NVT (Langevin) MD with an ace_lin model through ASE.

Units: time step in fs, temperature in K, energies in eV. Every `interval` steps a frame
goes to the extended-XYZ trajectory and a line to the log; every `checkpoint_every` steps
the state is checkpointed atomically, and `restart=True` continues from the checkpoint.
"""
import os
from dataclasses import dataclass

import numpy as np
from ase import units
from ase.constraints import FixCom
from ase.io import write
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.md.verlet import VelocityVerlet

from ace_lin.md.checkpoint import load_checkpoint, save_checkpoint


@dataclass
class MDSettings:
    steps: int = 1000
    dt_fs: float = 1.0
    temperature_K: float = 300.0
    ensemble: str = "nvt"          # "nve" or "nvt" (Langevin)
    friction_per_fs: float = 0.01  # Langevin friction
    interval: int = 10             # trajectory/log interval, steps
    checkpoint_every: int = 100
    seed: int = 0

    def check(self):
        if self.ensemble not in ("nve", "nvt"):
            raise ValueError(f"ensemble must be 'nve' or 'nvt', got {self.ensemble!r}")
        if self.steps < 0 or self.dt_fs <= 0 or self.temperature_K < 0 or self.interval < 1:
            raise ValueError("need steps >= 0, dt_fs > 0, temperature_K >= 0, interval >= 1")


def _dynamics(atoms, s: MDSettings, rng):
    if s.ensemble == "nve":
        return VelocityVerlet(atoms, timestep=s.dt_fs * units.fs)
    # the centre of mass is held by a FixCom constraint (run_md), not by Langevin's fixcm,
    # which does not sample the NVT distribution exactly
    return Langevin(atoms, timestep=s.dt_fs * units.fs, temperature_K=s.temperature_K,
                    friction=s.friction_per_fs / units.fs, rng=rng, fixcm=False)


def run_md(atoms, calc, settings: MDSettings, out_prefix: str, restart=False, progress=False):
    """Returns the log as a dict of arrays (step, time_fs, epot, ekin, etot eV, T K)."""
    settings.check()
    traj_path, ckpt_path, log_path = (out_prefix + ".extxyz", out_prefix + ".restart.json",
                                      out_prefix + ".log")
    rng = np.random.default_rng(settings.seed)
    step0 = 0
    atoms = atoms.copy()
    if not any(isinstance(c, FixCom) for c in atoms.constraints):
        atoms.set_constraint(list(atoms.constraints) + [FixCom()])
    if restart and os.path.exists(ckpt_path):
        st = load_checkpoint(ckpt_path)
        if st["symbols"] != atoms.get_chemical_symbols():
            raise ValueError(f"{ckpt_path}: checkpoint belongs to a different structure")
        atoms.set_cell(st["cell"])
        atoms.pbc = st["pbc"]
        atoms.set_positions(st["positions"])
        atoms.set_momenta(st["momenta"])
        rng.bit_generator.state = st["rng_state"]
        step0 = st["step"]
        for path in (traj_path, log_path):  # drop anything written after the checkpoint
            size = st["trajectory_bytes"] if path == traj_path else st["settings"].get("log_bytes", 0)
            if os.path.exists(path):
                with open(path, "r+b") as fh:
                    fh.truncate(size)
    else:
        thermalize_momenta(atoms, temperature_K=settings.temperature_K, rng=rng)
        Stationary(atoms)
        for path in (traj_path, log_path):
            if os.path.exists(path):
                os.remove(path)
        with open(log_path, "w") as fh:
            fh.write("# step time_fs epot_eV ekin_eV etot_eV temperature_K\n")
    atoms.calc = calc
    dyn = _dynamics(atoms, settings, rng)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=settings.steps, initial=step0, unit="step", desc="MD")
    step = step0

    def record():
        epot, ekin = atoms.get_potential_energy(), atoms.get_kinetic_energy()
        with open(log_path, "a") as fh:
            fh.write(f"{step} {step * settings.dt_fs:.3f} {epot:.10f} {ekin:.10f} {epot + ekin:.10f} "
                     f"{atoms.get_temperature():.4f}\n")
        write(traj_path, atoms, format="extxyz", append=True)

    if step0 == 0:
        record()
    while step < settings.steps:
        n = min(settings.interval - step % settings.interval, settings.steps - step)
        dyn.run(n)
        step += n
        if step % settings.interval == 0 or step == settings.steps:
            record()
        if step % settings.checkpoint_every == 0 or step == settings.steps:
            log_bytes = os.path.getsize(log_path)
            save_checkpoint(ckpt_path, atoms, step, rng, os.path.getsize(traj_path),
                            dict(vars(settings), log_bytes=log_bytes))
        if bar:
            bar.update(n)
    if bar:
        bar.close()
    data = np.loadtxt(log_path, ndmin=2)
    return {"step": data[:, 0], "time_fs": data[:, 1], "epot": data[:, 2], "ekin": data[:, 3],
            "etot": data[:, 4], "temperature": data[:, 5]}


def plot_md(log: dict, png_path: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(2, 1, figsize=(6, 5), sharex=True)
    ax[0].plot(log["time_fs"], log["etot"] - log["etot"][0], label="total - initial")
    ax[0].plot(log["time_fs"], log["epot"] - log["epot"][0], label="potential - initial", alpha=0.6)
    ax[0].set_ylabel("energy (eV)")
    ax[0].legend()
    ax[1].plot(log["time_fs"], log["temperature"])
    ax[1].set_ylabel("temperature (K)")
    ax[1].set_xlabel("time (fs)")
    fig.tight_layout()
    tmp = png_path + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, png_path)
