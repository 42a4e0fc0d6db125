"""The generated C kernels: reproducible, and written only when their stamp is stale."""
import os

import pytest

from ace_lin.codegen import emit_c
from ace_lin.codegen.generated import NAME, write_generated_sources

BUILT = os.path.join(os.path.dirname(__file__), "..", "csrc", "generated", NAME)


def test_generation_reproduces_the_built_kernels_and_skips_a_current_stamp(tmp_path, monkeypatch):
    out = tmp_path / "gen"
    out.mkdir()
    (out / "old_kernel.c").write_text("/* an older generator's file */\n")
    [path] = write_generated_sources(str(out))
    assert not (out / "old_kernel.c").exists()
    text = open(path).read()
    if os.path.exists(BUILT):  # what the build wrote from the same generator
        assert text == open(BUILT).read()

    def fail():
        raise AssertionError("rendered although the stamp is current")

    monkeypatch.setattr(emit_c, "render", fail)
    assert write_generated_sources(str(out)) == [path]  # current: not rendered again
    assert open(path).read() == text

    (out / "STAMP").write_text("stale\n")
    with pytest.raises(AssertionError, match="rendered although"):
        write_generated_sources(str(out))
    monkeypatch.undo()
    write_generated_sources(str(out))
    assert open(path).read() == text
    assert write_generated_sources(str(out)) == [path]
