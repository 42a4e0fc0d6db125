"""The LAMMPS side of the LAMMPS engine: data file and input scripts (metal units).

The input is self-contained and runs unchanged with `mpirun -np N lmp -in in.lammps` in the
output folder (the model is copied there as model.json; the plugin path is an index
variable that `-var acelin_plugin PATH` overrides, e.g. on a cluster node:
`-var acelin_plugin $(ace-lin lammps-plugin path)`).

The run is cut into segments that end at every checkpoint step and every stage end; each
segment ends with `write_restart` to a temporary name renamed to lammps/restart.STEP.lmp
(a restart file with a step in its name is complete). Stochastic thermostats (langevin,
temp/csvr) get a new fix ID and a seed derived from (seed, segment start step) in every
segment, so a run resumed from any restart file draws the same noise as the uninterrupted
one. Nose-Hoover (nvt/npt) fixes keep one ID per stage and are restored from the restart.

Trajectory: binary `dump custom` (full doubles) every stride steps (set per stage by
dump_modify and thermo), sorted by ID, unwrapped positions (A),
velocities (A/ps), forces (eV/A), per-atom energy (eV), per-atom -trace(stress)/3 incl.
the kinetic part (bar*A^3; their sum over the volume is the pressure). The thermo
quantities of thermo.csv are computed from these frames by ace_lin.md.lammps_dump, so both
engines define them alike. With an active set, `fix pair ... acelin gamma 1` grades every
stage's grade stride (MDConfig.stage_grade_stride, a multiple of its stride) and `fix
print` appends "step max_gamma" of each graded step to lammps/grade.txt (flushed per line,
before that step's dump frame); the grade is kept out of the dump, which a fix may only
fill on the steps it computes.
"""
import hashlib

import numpy as np
from ase import units

BAR_PER_GPA = 1.0e4
DUMP = "lammps/dump.bin"  # binary (the .bin name tells LAMMPS): no number formatting per frame
LEGACY_DUMP = "lammps/dump.lammpstrj"  # the text dump of runs begun before the binary one
GRADES = "lammps/grade.txt"


class LammpsFrame:
    """The rotation of an ASE cell to LAMMPS's lower-triangular orientation:
    cell_lammps = cell @ q, positions_lammps = positions @ q."""

    def __init__(self, cell):
        cell = np.asarray(cell, float)
        if np.linalg.det(cell) <= 0:
            raise ValueError("the LAMMPS engine needs a right-handed cell (positive determinant); "
                             "reorder the cell vectors of the structure")
        qm, r = np.linalg.qr(cell.T)
        d = np.sign(np.diag(r))
        self.q = qm * d
        self.cell = cell @ self.q
        self.cell[np.abs(self.cell) < 1e-14 * np.abs(self.cell).max()] = 0.0
        self.cell[0, 1:] = 0.0
        self.cell[1, 2] = 0.0

    def to_lammps(self, vectors):
        return np.asarray(vectors) @ self.q

    def from_lammps(self, vectors):
        return np.asarray(vectors) @ self.q.T


def _n(v) -> str:
    return repr(float(v))


def write_data(path, atoms, elements, frame: LammpsFrame, velocities_A_fs, triclinic):
    """LAMMPS data file (atom_style atomic): one atom type per model element (in model
    order), wrapped positions with image flags (the unwrapped positions are the ASE ones),
    velocities in A/ps, masses from ASE (amu)."""
    cell = frame.cell
    pos = frame.to_lammps(atoms.positions)
    frac = np.linalg.solve(cell.T, pos.T).T
    image = np.floor(frac)
    wrapped = (frac - image) @ cell
    vel = frame.to_lammps(velocities_A_fs) * 1000.0
    masses = {}
    for s, m in zip(atoms.get_chemical_symbols(), atoms.get_masses()):
        masses.setdefault(s, m)
    from ase.data import atomic_masses, atomic_numbers

    types = {el: k + 1 for k, el in enumerate(elements)}
    lines = ["ace-lin md start structure (units metal)", "", f"{len(atoms)} atoms",
             f"{len(elements)} atom types", ""]
    lines += [f"0.0 {_n(cell[k, k])} {ax}lo {ax}hi" for k, ax in enumerate("xyz")]
    if triclinic:
        lines.append(f"{_n(cell[1, 0])} {_n(cell[2, 0])} {_n(cell[2, 1])} xy xz yz")
    lines += ["", "Masses", ""]
    lines += [f"{types[el]} {_n(masses.get(el, atomic_masses[atomic_numbers[el]]))}  # {el}"
              for el in elements]
    lines += ["", "Atoms # atomic", ""]
    for i, (s, p, im) in enumerate(zip(atoms.get_chemical_symbols(), wrapped, image.astype(int))):
        lines.append(f"{i + 1} {types[s]} {_n(p[0])} {_n(p[1])} {_n(p[2])} {im[0]} {im[1]} {im[2]}")
    lines += ["", "Velocities", ""]
    lines += [f"{i + 1} {_n(v[0])} {_n(v[1])} {_n(v[2])}" for i, v in enumerate(vel)]
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")


def segment_seed(seed: int, step: int) -> int:
    """A LAMMPS seed (1 .. 9e8) for the segment that starts at step."""
    h = hashlib.sha256(f"{seed}:{step}".encode()).digest()
    return 1 + int.from_bytes(h[:8], "little") % 899_999_999


def segments(cfg):
    """(stage index, first step, number of steps) of each segment, cut at checkpoint steps
    and stage ends."""
    out, step = [], 0
    for k, st in enumerate(cfg.stages):
        end = step + st.steps
        while step < end:
            n = min(cfg.checkpoint_every - step % cfg.checkpoint_every, end - step)
            out.append((k, step, n))
            step += n
    return out


def _stage_fix(k, st, dt_fs):
    damp = st.tau / 1000.0  # ps
    if st.ensemble == "nvt-nose-hoover":
        return f"fix integrate_s{k} all nvt temp {st.temperature!r} {st.temperature!r} {damp!r}"
    if st.ensemble == "npt":
        p = st.pressure * BAR_PER_GPA
        return (f"fix integrate_s{k} all npt temp {st.temperature!r} {st.temperature!r} {damp!r} "
                f"{st.barostat} {p!r} {p!r} {st.tau_p / 1000.0!r}")
    return f"fix integrate_s{k} all nve"


def _thermostat_fix(k, st, first_step, seed):
    damp = st.tau / 1000.0
    fid = f"tstat_s{k}_{first_step}"
    s = segment_seed(seed, first_step)
    if st.ensemble == "nvt-langevin":
        return fid, f"fix {fid} all langevin {st.temperature!r} {st.temperature!r} {damp!r} {s} zero yes"
    if st.ensemble == "nvt-csvr":
        return fid, f"fix {fid} all temp/csvr {st.temperature!r} {st.temperature!r} {damp!r} {s}"
    return None, None


def _grade_fixes(every):
    """The grade every `every` steps and its log line ($(...) in quotes is evaluated when
    printed)."""
    return (f"fix grade all pair {every} acelin gamma 1",
            f'fix grade_log all print {every} "$(step) $(v_max_gamma:%.17g)" append {GRADES} '
            "screen no")


def input_script(cfg, elements, plugin, with_grade, restart_step=None, n_atoms=0,
                 dump=DUMP) -> str:
    """The input of the whole run (restart_step None) or of its rest from
    lammps/restart.<restart_step>.lmp; dump: the file of the trajectory (a resumed
    segment's binary dump is a file of its own, LEGACY_DUMP a text dump appended to)."""
    segs = segments(cfg)
    halt = with_grade and cfg.max_grade_stop is not None
    if restart_step is not None:  # a halted run's restart may lie inside a segment
        segs = [(k, max(first, restart_step), first + n - max(first, restart_step))
                for k, first, n in segs if first + n > restart_step]
    L = ["# generated by `ace-lin md`; run it in this folder:",
         "#   mpirun -np N lmp -in " + ("in.lammps" if restart_step is None else
                                       f"in.resume.{restart_step}.lammps"),
         "# elsewhere add: -var acelin_plugin $(ace-lin lammps-plugin path)",
         f"variable acelin_plugin index {plugin}",
         "plugin load ${acelin_plugin}",
         "units metal", "atom_style atomic", "atom_modify map array"]
    if restart_step is None:
        L += ["boundary p p p", "read_data structure.data"]
    else:
        L += [f"read_restart lammps/restart.{restart_step}.lmp"]
    L += ["pair_style acelin", "pair_coeff * * model.json " + " ".join(elements),
          "neighbor 1.0 bin", "neigh_modify every 1 delay 0 check yes",
          f"timestep {cfg.timestep / 1000.0!r}",
          "compute pe_atom all pe/atom",
          "compute s_atom all stress/atom NULL",
          "variable p_atom atom -(c_s_atom[1]+c_s_atom[2]+c_s_atom[3])/3.0"]
    cols = "id type xu yu zu vx vy vz fx fy fz c_pe_atom v_p_atom"
    binary = dump.endswith(".bin")  # LAMMPS's rule; it starts a binary dump anew, never appends
    first_stride = cfg.stage_stride(segs[0][0]) if segs else cfg.stride
    first_grade = cfg.stage_grade_stride(segs[0][0]) if segs else first_stride
    if with_grade:  # graded on the grade stride's frames only (a graded step costs several
        # force calls: benchmarks/lammps_grade_cost.py); re-made per stage
        fix, log = _grade_fixes(first_grade)
        L += [fix, "compute max_gamma all reduce max f_grade",
              "variable max_gamma equal c_max_gamma", log]
    L += ["thermo_style custom step temp pe etotal press",
          f"thermo {first_stride}", "thermo_modify flush yes",
          f"dump traj all custom {first_stride} {dump} {cols}",
          "dump_modify traj sort id" + ("" if binary else " format float %.12g") +
          (" append yes" if restart_step is not None and not binary else "")]
    stage_fix = tstat = None
    halt_stride = None
    grade_stride = first_grade
    kept = [restart_step] if restart_step is not None else []  # the last two restarts stay
    for k, first, n in segs:
        st = cfg.stages[k]
        if stage_fix != k:
            if stage_fix is not None:
                L.append(f"unfix integrate_s{stage_fix}")
            stride = cfg.stage_stride(k)
            L += [f"# stage {k}: {st.ensemble}, {st.steps} steps, a frame every {stride}",
                  _stage_fix(k, st, cfg.timestep), f"thermo {stride}",
                  f"dump_modify traj every {stride}"]
            g = cfg.stage_grade_stride(k)
            if with_grade and grade_stride != g:  # same IDs: the reduce finds the fix again
                L += ["unfix grade_log", "unfix grade", *_grade_fixes(g)]
                grade_stride = g
            if halt and halt_stride != g:  # the halt checks this stage's graded frames only
                if halt_stride is not None:
                    L.append("unfix grade_stop")
                L.append(f"fix grade_stop all halt {g} v_max_gamma > "
                         f"{cfg.max_grade_stop!r} error soft")
                halt_stride = g
            stage_fix = k
        if tstat is not None:
            L.append(f"unfix {tstat}")
            tstat = None
        fid, line = _thermostat_fix(k, st, first, cfg.seed)
        if fid:
            L.append(line)
            tstat = fid
        last = first + n
        L.append(f"run {n}")
        if halt:  # a halted run skips its later runs: write its restart and stop here
            L.append(f'if "$(step) < {last}" then "jump SELF halted"')
        L += ["write_restart lammps/restart.tmp",
              f"shell mv lammps/restart.tmp lammps/restart.{last}.lmp"]
        kept.append(last)
        if len(kept) > 2:
            L.append(f"shell rm lammps/restart.{kept.pop(0)}.lmp")
    if halt:
        L += ["jump SELF finished", "label halted", "variable now equal step",
              "write_restart lammps/restart.tmp",
              "shell mv lammps/restart.tmp lammps/restart.${now}.lmp", "label finished"]
    return "\n".join(L) + "\n"


def velocities_from_momenta(atoms, momenta):
    """A/fs from ASE momenta."""
    return momenta / atoms.get_masses()[:, None] * units.fs
