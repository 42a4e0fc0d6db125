"""The manual agrees with the code: docs/fitting.md's key reference is the generated one,
every key of `ace-lin fit --template` is documented there, the README's test command is the
one CI runs, and relative links in README.md and docs/ point to files that exist."""
import os
import re

import pytest
import yaml

from ace_lin.basis.spec import BasisSpec
from ace_lin.fit import config_doc
from ace_lin.fit.config import basis_keys, template_yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FITTING_MD = os.path.join(REPO, "docs", "fitting.md")


def _read(*parts):
    with open(os.path.join(REPO, *parts)) as fh:
        return fh.read()


def test_fitting_md_is_generated_from_the_config_definitions():
    text = _read("docs", "fitting.md")
    assert config_doc.splice(text, config_doc.render_markdown()) == text, (
        "docs/fitting.md is stale: run python3 -m ace_lin.fit.config_doc --write docs/fitting.md")


def _keys(tree, prefix=""):
    for key, value in tree.items():
        yield prefix + key
        if isinstance(value, dict) and value:
            yield from _keys(value, prefix + key + ".")


def _section_table(generated, title):
    """The text of one '### title' block of the reference."""
    head = f"### {title}\n"
    assert head in generated, f"no section {title} in the reference"
    return generated.split(head, 1)[1].split("\n### ", 1)[0]


def test_every_template_key_is_in_the_reference():
    generated = config_doc.render_markdown()
    keys = list(_keys(yaml.safe_load(template_yaml())))
    assert len(keys) > 30
    for key in keys + [f"basis.{k}" for k in basis_keys()]:
        section, _, name = key.rpartition(".")
        table = _section_table(generated, f"`{section}`" if section else "Top level")
        assert f"| `{name}` |" in table, f"{key} is not in the reference"


def test_undocumented_basis_field_is_an_error(monkeypatch):
    doc = BasisSpec.__doc__
    assert "    transform_power   " in doc
    monkeypatch.setattr(BasisSpec, "__doc__", doc.replace("    transform_power   ", "    "))
    with pytest.raises(config_doc.DocError, match="transform_power"):
        config_doc.spec_field_docs()


def test_splice_needs_the_markers(tmp_path):
    with pytest.raises(config_doc.DocError, match="markers"):
        config_doc.splice("# Fitting\nno markers here\n", "x\n")
    page = f"intro\n{config_doc.BEGIN}\nold\n{config_doc.END}\noutro\n"
    assert config_doc.splice(page, "new\n") == f"intro\n{config_doc.BEGIN}\nnew\n{config_doc.END}\noutro\n"
    stale = tmp_path / "fitting.md"
    stale.write_text(page)
    assert config_doc.main(["--check", str(stale)]) == 1
    assert config_doc.main(["--write", str(stale)]) == 0
    assert config_doc.main(["--check", str(stale)]) == 0
    assert stale.read_text().startswith("intro\n") and stale.read_text().endswith("outro\n")


def test_readme_test_command_is_what_ci_runs():
    ci = _read(".ci", "run")
    readme = _read("README.md")
    commands = [ln.strip() for ln in ci.splitlines() if ln.strip().startswith("python3 -m pytest")]
    assert commands, ".ci/run runs no pytest command"
    for cmd in commands:
        assert cmd in readme, f"README.md does not show the CI test command {cmd!r}"
    install = re.search(r'pip install --quiet (-e "\.\[[a-z,]+\]")', ci).group(1)
    assert f"pip install {install}" in readme


def _markdown_files():
    files = [os.path.join(REPO, "README.md"), os.path.join(REPO, "benchmarks", "RESULTS.md")]
    docs = os.path.join(REPO, "docs")
    files += sorted(os.path.join(docs, f) for f in os.listdir(docs) if f.endswith(".md"))
    return [f for f in files if os.path.isfile(f)]


def test_relative_links_resolve():
    bad = []
    for path in _markdown_files():
        with open(path) as fh:
            text = fh.read()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # external or in-page
            file_part = target.split("#", 1)[0]
            if not os.path.exists(os.path.normpath(os.path.join(os.path.dirname(path), file_part))):
                bad.append(f"{os.path.relpath(path, REPO)}: {target}")
    assert not bad, "broken links: " + ", ".join(bad)
