"""Shared pieces of the md_* benchmarks: fitted models, start cells, one `ace-lin md` run.

Models are fitted here with ace_lin.fit (a named preset, BLR) to
../shared/data/mlearn_<El>_train.xyz and cached in the work folder under a name that holds
a hash of the preset, so a model of an older preset is never reused.
"""
import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SHARED = os.path.join(os.path.dirname(REPO), "shared")
sys.path.insert(0, REPO)

CELLS = {"Si": ("diamond", 5.43), "Mo": ("bcc", 3.16)}  # lattice, a (A)


def default_workdir():
    from ace_lin.codegen.cache import cache_dir

    path = os.path.join(cache_dir(), "benchmarks")
    os.makedirs(path, exist_ok=True)
    return path


def fitted_model(element, size, workdir):
    from ace_lin.fit.config import load_config
    from ace_lin.fit.driver import fit
    from ace_lin.fit.presets import preset

    tag = hashlib.sha256(json.dumps(preset(size, 1), sort_keys=True).encode()).hexdigest()[:10]
    path = os.path.join(workdir, f"{element}_{size}_{tag}.json")
    if os.path.isfile(path):
        return path
    train = os.path.join(SHARED, "data", f"mlearn_{element}_train.xyz")
    print(f"fitting {element} ({size}) to {train} ...", flush=True)
    cfg = load_config({"data": {"train": train}, "elements": [element], "e0": "fit",
                       "basis": {"size": size}, "solver": {"kind": "blr"}, "output": path})
    fit(cfg, progress=False)
    return path


def cubic_cell(element, path):
    """Conventional cubic cell of the element (the configs repeat it by supercell)."""
    from ase.build import bulk

    lattice, a = CELLS[element]
    bulk(element, lattice, a=a, cubic=True).write(path)
    return path


def run(cfg: dict, progress=False):
    from ace_lin.md.config import parse_config
    from ace_lin.md.run import run_md

    c = parse_config(cfg)
    return c, run_md(c, progress=progress)


def header(extra=()):
    from machine import machine_info

    from ace_lin import __version__

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return "\n".join([machine_info(), f"load average {load} (shared machines are noisy)",
                      f"ace_lin {__version__}", *extra])
