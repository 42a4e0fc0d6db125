"""Build the C core and its Cython wrappers.

Portable by default (generic -O3 for the target architecture); ACE_LIN_NATIVE=1 at
install time adds -march=native for the machine that builds. The spherical-harmonics
kernel is generated with sympy at build time into csrc/generated/ (never committed,
never edited by hand). OpenMP is used when the compiler supports it; otherwise the
core is built serial with a warning.
"""
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import warnings

import numpy as np
from setuptools import Extension, find_packages, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join(HERE, "csrc")
sys.path.insert(0, HERE)


def generate_kernels():
    """Run the sympy generator (deterministic; skipped when the stamp matches)."""
    from ace_lin.codegen.generated import write_generated_sources

    return write_generated_sources(os.path.join(CSRC, "generated"))


def compiler_has_openmp():
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    cc = cc.split()[0]
    src = "#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.c")
        with open(path, "w") as fh:
            fh.write(src)
        try:
            res = subprocess.run([cc, "-fopenmp", path, "-o", os.path.join(tmp, "t")],
                                 capture_output=True)
        except OSError:
            return False
        return res.returncode == 0


def native_tuning() -> bool:
    """ACE_LIN_NATIVE=1 at install time: tune for this CPU (-march=native). Off by default:
    such a build can crash (illegal instruction) on another CPU generation, e.g. compute
    nodes behind a login node. benchmarks/core_speed.py measures what the portable build costs."""
    return os.environ.get("ACE_LIN_NATIVE", "0") == "1"


def compile_flags():
    flags = ["-O3", "-std=c99", "-fno-math-errno", "-Wall", "-Wno-unused-function"]
    if native_tuning():
        # 256-bit vectors: the inner loops run over 4..20 radial functions (the width
        # preference is x86-only and means nothing without AVX, so it goes with -march)
        flags += ["-march=native", "-mprefer-vector-width=256"]
    link = []
    if compiler_has_openmp():
        flags.append("-fopenmp")
        link.append("-fopenmp")
    else:
        warnings.warn("ace_lin: the C compiler has no OpenMP; building the core serial")
    return flags, link


class BuildPyWithSources(build_py):
    """Also ship csrc/ inside the package (ace_lin/_csrc) so that the LAMMPS plugin
    can be built from an installed package."""

    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "ace_lin", "_csrc")
        if os.path.isdir(target):
            shutil.rmtree(target)
        shutil.copytree(CSRC, target, ignore=shutil.ignore_patterns("*.o", "*.so", "build*"))


def core_sources():
    names = sorted(f for f in os.listdir(CSRC) if f.endswith(".c"))
    gen = os.path.join(CSRC, "generated")
    gen_names = sorted(f for f in os.listdir(gen) if f.endswith(".c"))
    return [os.path.join("csrc", f) for f in names] + \
           [os.path.join("csrc", "generated", f) for f in gen_names]


generate_kernels()
CFLAGS, LFLAGS = compile_flags()
CORE = core_sources()
# the core's headers (the kernels are a header, kernels_impl.h): a change to one rebuilds the
# extension, which build_ext otherwise decides from the .c files' times alone
HEADERS = sorted(os.path.join(d, f) for d in ("csrc", os.path.join("csrc", "generated"))
                 for f in os.listdir(os.path.join(HERE, d)) if f.endswith(".h"))
common = dict(include_dirs=[CSRC, os.path.join(CSRC, "generated"), np.get_include()], depends=HEADERS,
              extra_compile_args=CFLAGS, extra_link_args=LFLAGS + ["-lm"],
              define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")])
extensions = [
    Extension("ace_lin._core", ["ace_lin/_core.pyx"] + CORE, **common),
    Extension("ace_lin._neighbours", ["ace_lin/_neighbours.pyx", "csrc/neighbours.c"], **common),
    # the text of the MD outputs' per-atom rows, formatted without the GIL on OpenMP threads
    Extension("ace_lin.md._rows", ["ace_lin/md/_rows.pyx"], include_dirs=[np.get_include()],
              extra_compile_args=CFLAGS, extra_link_args=LFLAGS,
              define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]),
    # LAPACK through scipy.linalg.cython_lapack (function pointers, nothing to link)
    Extension("ace_lin.fit._bidiag", ["ace_lin/fit/_bidiag.pyx"], extra_compile_args=["-O2"]),
]
# Developer convenience: ACE_LIN_EXTENSIONS=_neighbours builds only that one.
_only = os.environ.get("ACE_LIN_EXTENSIONS")
if _only:
    extensions = [e for e in extensions if e.name.split(".")[-1] in _only.split(",")]

from Cython.Build import cythonize  # noqa: E402

setup(
    packages=find_packages(include=["ace_lin", "ace_lin.*"]),
    ext_modules=cythonize(extensions, language_level=3,
                          compiler_directives={"boundscheck": False, "wraparound": False}),
    cmdclass={"build_py": BuildPyWithSources},
)
