"""Snapshot files for electronic-structure codes, one folder (or file) per frame.

vasp: NAME/POSCAR (Cartesian, A; atom order kept, so species may repeat in the species
      line), plus the user's INCAR/KPOINTS/POTCAR linked or copied in.
qe:   NAME/pw.in from the user's pw.x template: CELL_PARAMETERS angstrom and
      ATOMIC_POSITIONS angstrom cards written, nat and ibrav=0 set in &SYSTEM; every other
      line is the template's.
cp2k: NAME/subsys.inc with &CELL (A, B, C in A) and &COORD (A), for @INCLUDE in &SUBSYS.
xyz:  NAME.xyz, extended XYZ with the cell (Lattice, A).
"""
import os
import re
import shutil

FORMATS = ("vasp", "qe", "cp2k", "xyz")


class TemplateError(ValueError):
    """A pw.x template that cannot take the geometry."""


def write_vasp(folder, atoms, positions, extra_files=(), copy=False):
    from ase.io import write

    os.makedirs(folder, exist_ok=True)
    a = atoms.copy()
    a.positions = positions
    write(os.path.join(folder, "POSCAR"), a, format="vasp", direct=False, sort=False)
    for src in extra_files:
        dst = os.path.join(folder, os.path.basename(src))
        if os.path.lexists(dst):
            os.remove(dst)
        if copy:
            shutil.copyfile(src, dst)
        else:
            os.symlink(os.path.relpath(os.path.abspath(src), os.path.abspath(folder)), dst)


_CARDS = ("ATOMIC_SPECIES", "ATOMIC_POSITIONS", "K_POINTS", "CELL_PARAMETERS", "OCCUPATIONS",
          "CONSTRAINTS", "ATOMIC_VELOCITIES", "ATOMIC_FORCES", "ADDITIONAL_K_POINTS",
          "SOLVENTS", "HUBBARD")


def _card_name(line):
    word = line.strip().split()[0].upper() if line.strip() else ""
    return word if word in _CARDS else None


def check_qe_template(text, elements):
    """Species of the template's ATOMIC_SPECIES card; refuses templates without one, that
    lack an element of the trajectory, or that fix the cell by celldm/A."""
    lines = text.splitlines()
    if re.search(r"^\s*(celldm\s*\(\s*\d\s*\)|a)\s*=", text, re.I | re.M):
        raise TemplateError("the template sets celldm or A: remove them (the cell is written as "
                            "CELL_PARAMETERS angstrom)")
    try:
        k = next(i for i, ln in enumerate(lines) if _card_name(ln) == "ATOMIC_SPECIES")
    except StopIteration:
        raise TemplateError("the template has no ATOMIC_SPECIES card (it gives the "
                            "pseudopotentials)") from None
    species = []
    for ln in lines[k + 1:]:
        if _card_name(ln) or ln.strip().startswith("&") or ln.strip() == "/":
            break
        if ln.strip() and not ln.strip().startswith(("!", "#")):
            species.append(ln.split()[0])
    missing = sorted(set(elements) - set(species))
    if missing:
        raise TemplateError(f"ATOMIC_SPECIES of the template lacks {', '.join(missing)}")
    if not re.search(r"^\s*&system", text, re.I | re.M):
        raise TemplateError("the template has no &SYSTEM namelist")
    return species


def qe_input(template, atoms, positions):
    """The template with this frame's cell and positions."""
    lines = template.splitlines()
    kept, skip = [], False
    for ln in lines:  # drop the template's own geometry cards
        card = _card_name(ln)
        if card:
            skip = card in ("CELL_PARAMETERS", "ATOMIC_POSITIONS")
        if not skip:
            kept.append(ln)
    text = "\n".join(kept)
    m = re.search(r"^\s*&system\b(.*?)^\s*/", text, re.I | re.M | re.S)
    body = m.group(1)
    for key, value in (("nat", str(len(atoms))), ("ibrav", "0")):
        pat = re.compile(rf"(^|[\s,]){key}\s*=\s*[^,\n]+", re.I)
        if pat.search(body):
            body = pat.sub(lambda mm: f"{mm.group(1)}{key} = {value}", body, count=1)
        else:
            body = f"\n  {key} = {value}," + body
    text = text[:m.start(1)] + body + text[m.end(1):]
    geo = ["CELL_PARAMETERS angstrom"]
    geo += ["  " + " ".join(f"{v:.12f}" for v in row) for row in atoms.cell.array]
    geo.append("ATOMIC_POSITIONS angstrom")
    geo += [f"  {s} " + " ".join(f"{v:.12f}" for v in p)
            for s, p in zip(atoms.get_chemical_symbols(), positions)]
    return text.rstrip() + "\n" + "\n".join(geo) + "\n"


def write_qe(folder, atoms, positions, template):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "pw.in"), "w") as fh:
        fh.write(qe_input(template, atoms, positions))


def write_cp2k(folder, atoms, positions):
    os.makedirs(folder, exist_ok=True)
    per = "".join(ax for ax, p in zip("XYZ", atoms.pbc) if p) or "NONE"
    lines = ["&CELL"] + [f"  {n} " + " ".join(f"{v:.12f}" for v in row)
                         for n, row in zip("ABC", atoms.cell.array)]
    lines += [f"  PERIODIC {per}", "&END CELL", "&COORD"]
    lines += [f"  {s} " + " ".join(f"{v:.12f}" for v in p)
              for s, p in zip(atoms.get_chemical_symbols(), positions)]
    lines.append("&END COORD")
    with open(os.path.join(folder, "subsys.inc"), "w") as fh:
        fh.write("\n".join(lines) + "\n")


def write_xyz(path, atoms, positions, info):
    from ase import Atoms
    from ase.io import write

    a = Atoms(atoms.get_chemical_symbols(), positions=positions, cell=atoms.cell, pbc=atoms.pbc)
    a.info.update(info)
    write(path, a, format="extxyz")
