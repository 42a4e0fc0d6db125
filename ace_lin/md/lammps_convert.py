"""Converting the LAMMPS engine's dump into the common outputs (trajectory.extxyz,
thermo.csv, candidates.extxyz; ace_lin.md.lammps_dump formats each frame).

Frames are appended in step order after the last one converted; checkpoint.json records
how far (the dump's byte offset, the last step and the outputs' sizes), so a resume after
a kill truncates the outputs to it and converts the rest, none twice. Formatting numbers
as text is most of the work; the per-atom rows are formatted in C on OpenMP threads
(ace_lin.md._rows; OMP_NUM_THREADS, else every core: LAMMPS has ended by then). No pool of
processes: it would need either fork (the parent may hold tqdm's, OpenMP's or BLAS's
threads) or spawn (which re-imports a user's unguarded script).
"""
import os

from ace_lin.md import outputs as out
from ace_lin.md.checkpoint import CHECKPOINT, CheckpointError, save_checkpoint
from ace_lin.md.lammps_dump import convert_frame, iter_dump, read_grades
from ace_lin.md.lammps_input import GRADES, LEGACY_DUMP

FILES = (out.TRAJECTORY, out.THERMO, out.CANDIDATES)


def dump_name(state) -> str:
    """The run's dump: binary, or text for a run begun before the binary dump."""
    return state.get("dump", LEGACY_DUMP)


def _frame_gamma(step, cols, graded, logged, grades_path):
    """The frame's max grade: None when not graded; the grade log's, or for a run begun
    before the log its dump column."""
    if not graded:
        return None
    if logged is not None:
        return logged
    if "f_grade" in cols:  # a run begun before the grade left the dump
        return float(cols["f_grade"].max())
    raise CheckpointError(f"{grades_path} holds no grade for the graded frame at step {step}: "
                          f"the file was changed by hand")


class Converter:
    """Appends the dump's frames that are not yet in the outputs."""

    def __init__(self, folder, cfg, atoms, lframe, with_grade, state):
        self.folder, self.cfg, self.atoms = folder, cfg, atoms
        self.lframe, self.with_grade, self.state = lframe, with_grade, state

    def path(self, name):
        return os.path.join(self.folder, name)

    def reset(self):
        for name in FILES:
            if os.path.exists(self.path(name)):
                os.remove(self.path(name))
        out.append(self.path(out.THERMO), out.thermo_header(self.with_grade))
        self.state["converted"] = {"step": -1, "dump_offset": 0,
                                   "files": out.file_sizes(self.folder, FILES)}
        save_checkpoint(self.path(CHECKPOINT), self.state)

    def run(self, progress=False):
        """Convert the frames after the last converted one (progress: a tqdm bar over the
        dump's bytes; the conversion of a long run takes minutes)."""
        conv = self.state["converted"]
        for name in FILES:
            out.truncate(self.path(name), conv["files"].get(name, 0))
        dump = self.path(dump_name(self.state))
        if not os.path.exists(dump):
            return
        grades = read_grades(self.path(GRADES)) if self.with_grade else {}
        symbols, masses = self.atoms.get_chemical_symbols(), self.atoms.get_masses()
        start, last, thr = conv["dump_offset"], None, self.cfg.grade_threshold
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=os.path.getsize(dump) - start, unit="B", unit_scale=True,
                       desc="frames", dynamic_ncols=True)
        try:
            for step, cell, cols, end in iter_dump(dump, start):
                if bar is not None:
                    bar.update(end - start - bar.n)
                if step <= conv["step"]:
                    continue
                graded = self.with_grade and self.cfg.graded(step)
                gamma = _frame_gamma(step, cols, graded, grades.get(step), self.path(GRADES))
                frame, row = convert_frame(step, cell, cols, self.lframe, symbols, masses,
                                           self.atoms.pbc, self.cfg.timestep, gamma,
                                           self.with_grade)
                out.append(self.path(out.TRAJECTORY), frame)
                out.append(self.path(out.THERMO), row)
                if gamma is not None and thr is not None and gamma > thr:
                    out.append(self.path(out.CANDIDATES), frame)
                conv["step"], conv["dump_offset"] = step, end
                last = step
        finally:
            if bar is not None:
                bar.close()
        if last is not None:
            conv["files"] = out.file_sizes(self.folder, FILES)
            save_checkpoint(self.path(CHECKPOINT), self.state)

    def drop_converted(self):
        """Empty the dump once LAMMPS has ended and its frames are in the outputs: it would
        double the disk an every-step window takes. The checkpoint records the empty dump
        first, so a kill in between leaves a dump read again from its start, whose frames
        the converter skips by step."""
        dump = self.path(dump_name(self.state))
        if not os.path.exists(dump) or os.path.getsize(dump) == 0:
            return
        self.state["converted"]["dump_offset"] = 0
        save_checkpoint(self.path(CHECKPOINT), self.state)
        with open(dump, "r+b") as fh:
            fh.truncate(0)
