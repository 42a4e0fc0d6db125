"""Write the generated C kernels (ace_lin.codegen.emit_c) into a folder, unless the stamp
there says they are current: a hash of the generator's and the harmonics' source texts and
of sympy's version. The check reads files only, so a build that finds current kernels
(every `ace-lin md` run locating the LAMMPS plugin) does not import sympy."""
import hashlib
import os
from importlib import metadata

NAME = "acelin_ylm4.h"  # the one generated file (ace_lin.codegen.emit_c.render)
_HERE = os.path.dirname(os.path.abspath(__file__))
_SOURCES = (os.path.join(_HERE, "emit_c.py"), os.path.join(_HERE, "..", "basis", "ylm.py"))


def _stamp() -> str:
    h = hashlib.sha256()
    for path in _SOURCES:
        with open(path, "rb") as fh:
            h.update(fh.read())
    h.update(metadata.version("sympy").encode())
    return h.hexdigest()


def write_generated_sources(out_dir: str) -> list:
    """Write the kernels into out_dir unless its stamp already matches; returns the paths.
    Sources an older generator wrote there (other .c and .h files) are removed, so that no
    build compiles them."""
    os.makedirs(out_dir, exist_ok=True)
    stamp_path = os.path.join(out_dir, "STAMP")
    stamp = _stamp()
    path = os.path.join(out_dir, NAME)
    for old in os.listdir(out_dir):
        if old.endswith((".c", ".h")) and old != NAME:
            os.remove(os.path.join(out_dir, old))
    if os.path.exists(stamp_path) and os.path.exists(path):
        with open(stamp_path) as fh:
            if fh.read().strip() == stamp:
                return [path]
    from ace_lin.codegen.emit_c import render

    with open(path + ".tmp", "w") as fh:
        fh.write(render())
    os.replace(path + ".tmp", path)
    with open(stamp_path + ".tmp", "w") as fh:
        fh.write(stamp + "\n")
    os.replace(stamp_path + ".tmp", stamp_path)
    return [path]


if __name__ == "__main__":
    import sys

    for p in write_generated_sources(sys.argv[1] if len(sys.argv) > 1 else "csrc/generated"):
        print(p)
