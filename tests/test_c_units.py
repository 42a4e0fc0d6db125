"""Build and run the C unit tests (tests/c/): csrc/json_lite.c and csrc/sha256.c, and the
core's C API on a tiny hand-made model (test_core_api.c, linked with every core source).

The compiler is $CC, else the one Python was built with (sysconfig), else cc; without
one the tests are skipped with that reason.
"""
import os
import shlex
import shutil
import subprocess
import sysconfig

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSRC = os.path.join(ROOT, "csrc")
TEST_SRC = os.path.join(ROOT, "tests", "c", "test_json_sha256.c")
UNIT_SOURCES = [TEST_SRC, os.path.join(CSRC, "json_lite.c"), os.path.join(CSRC, "sha256.c")]
STRICT = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror"]
API_TEST = os.path.join(ROOT, "tests", "c", "test_core_api.c")
SANITIZE = ["-std=c99", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer"]


def core_sources():
    """Every C source of the core (the generated kernels must exist: setup.py writes them)."""
    gen = os.path.join(CSRC, "generated")
    names = [os.path.join(CSRC, f) for f in sorted(os.listdir(CSRC)) if f.endswith(".c")]
    if os.path.isdir(gen):
        names += [os.path.join(gen, f) for f in sorted(os.listdir(gen)) if f.endswith(".c")]
    return names


def c_compiler():
    """The C compiler command as a list, or None."""
    for cmd in (os.environ.get("CC"), sysconfig.get_config_var("CC"), "cc", "gcc", "clang"):
        if cmd:
            argv = shlex.split(cmd)
            if argv and shutil.which(argv[0]):
                return argv
    return None


@pytest.fixture(scope="module")
def cc():
    argv = c_compiler()
    if argv is None:
        pytest.skip("no C compiler found ($CC, sysconfig CC, cc, gcc, clang)")
    return argv


def build(cc, out, flags, sources=UNIT_SOURCES):
    cmd = cc + flags + ["-I" + CSRC] + sources + ["-o", str(out), "-lm"]
    return subprocess.run(cmd, capture_output=True, text=True)


def build_api_test(cc, tmp_path, flags):
    """test_core_api.c with -Werror, the core with its own flags (as setup.py), OpenMP on."""
    if not os.path.isfile(os.path.join(CSRC, "generated", "acelin_ylm4.h")):
        pytest.skip("csrc/generated/ is missing: build the package first (setup.py generates it)")
    obj = tmp_path / "test_core_api.o"
    res = subprocess.run(cc + flags + ["-fopenmp", "-Wall", "-Wextra", "-Werror", "-I" + CSRC, "-c",
                                       API_TEST, "-o", str(obj)], capture_output=True, text=True)
    if res.returncode != 0:
        return res, None
    exe = tmp_path / "test_core_api"
    res = subprocess.run(cc + flags + ["-fopenmp", "-I" + CSRC, "-I" + os.path.join(CSRC, "generated"),
                                       str(obj)] + core_sources() + ["-o", str(exe), "-lm"],
                         capture_output=True, text=True)
    return res, exe


def test_core_api_unit_tests_pass(cc, tmp_path):
    """Errors as data (acelin_error: failing atom and bond, 1 and N threads), the grade API."""
    res, exe = build_api_test(cc, tmp_path, ["-std=c99", "-O2"])
    assert res.returncode == 0, f"compilation failed:\n{res.stderr}"
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"C API unit tests failed:\n{run.stdout}\n{run.stderr}"
    assert "all checks passed" in run.stdout


def test_core_api_under_sanitizers(cc, tmp_path):
    res, exe = build_api_test(cc, tmp_path, ["-O0"] + SANITIZE)  # -O1 compiles 10x slower
    if res.returncode != 0:
        pytest.skip("the C compiler cannot build the core with -fsanitize=address,undefined: "
                    + (res.stderr.strip().splitlines() or ["(no message)"])[-1])
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1", OMP_NUM_THREADS="2")
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300, env=env)
    if run.returncode != 0 and "LeakSanitizer has encountered a fatal error" in run.stderr:
        pytest.skip("LeakSanitizer cannot run here (ptrace restrictions)")
    assert run.returncode == 0, f"sanitizer run failed:\n{run.stdout}\n{run.stderr}"


def test_unit_tests_pass(cc, tmp_path):
    exe = tmp_path / "test_json_sha256"
    res = build(cc, exe, STRICT)
    assert res.returncode == 0, f"compilation failed (warnings are errors):\n{res.stderr}"
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"C unit tests failed:\n{run.stdout}\n{run.stderr}"
    assert "all checks passed" in run.stdout


def test_unit_tests_under_sanitizers(cc, tmp_path):
    """Malformed input must not read out of bounds, leak or hit undefined behaviour."""
    exe = tmp_path / "test_json_sha256_asan"
    res = build(cc, exe, ["-O1"] + SANITIZE)
    if res.returncode != 0:
        pytest.skip("the C compiler cannot build with -fsanitize=address,undefined: "
                    + (res.stderr.strip().splitlines() or ["(no message)"])[-1])
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1")
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300, env=env)
    if run.returncode != 0 and "LeakSanitizer has encountered a fatal error" in run.stderr:
        pytest.skip("LeakSanitizer cannot run here (ptrace restrictions)")
    assert run.returncode == 0, f"sanitizer run failed:\n{run.stdout}\n{run.stderr}"


def test_decimal_comma_locale(cc, tmp_path):
    """Numbers parse the same when LC_NUMERIC uses a decimal comma (strtod is locale-aware)."""
    exe = tmp_path / "test_json_locale"
    res = build(cc, exe, STRICT)
    assert res.returncode == 0, res.stderr
    run = subprocess.run([str(exe), "locale"], capture_output=True, text=True, timeout=60)
    if run.returncode == 77 and shutil.which("localedef"):
        # none installed: compile de_DE into a private directory (glibc reads $LOCPATH)
        loc = tmp_path / "locales"
        loc.mkdir()
        made = subprocess.run(["localedef", "-i", "de_DE", "-f", "UTF-8", str(loc / "de_DE.UTF-8")],
                              capture_output=True, text=True, timeout=120)
        if made.returncode in (0, 1):  # 1: warnings only
            run = subprocess.run([str(exe), "locale"], capture_output=True, text=True, timeout=60,
                                 env=dict(os.environ, LOCPATH=str(loc)))
    if run.returncode == 77:
        pytest.skip("no decimal-comma locale (de_DE, fr_FR, ru_RU, nl_NL) is installed and "
                    "localedef could not build one")
    assert run.returncode == 0, run.stderr


def test_model_reader_compiles_without_warnings(cc, tmp_path):
    """csrc/model_file.c, json_lite.c and sha256.c are warning-free C99 (also -pedantic)."""
    for name in ("model_file.c", "json_lite.c", "sha256.c"):
        obj = tmp_path / (name + ".o")
        cmd = cc + STRICT + ["-pedantic", "-I" + CSRC, "-c", os.path.join(CSRC, name), "-o", str(obj)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        assert res.returncode == 0, f"{name}:\n{res.stderr}"
