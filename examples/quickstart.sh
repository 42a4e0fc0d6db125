#!/usr/bin/env bash
# The main job on the bundled example data (mlearn Si subset, examples/data/):
# install ace_lin, fit a model, print its test errors, run a short MD.
# Usage (from anywhere):  bash examples/quickstart.sh
# Outputs go to examples/out/ (model JSON, error table, parity plot PNG, MD trajectory,
# MD log and energy/temperature plot PNG).
set -euo pipefail
cd "$(dirname "$0")/.."
# editable, as .ci/run does: a later `pip install -e .` of this checkout is not shadowed
python3 -m pip install --quiet -e ".[lammps]"
ace-lin fit examples/fit_si.yaml                      # -> examples/out/Si_model.json
ace-lin errors examples/out/Si_model.json examples/data/Si_test.xyz
# a fresh MD folder: the model was just refitted, so an earlier run's checkpoint cannot resume
rm -rf examples/out/Si_md
ace-lin md examples/out/Si_model.json examples/data/Si_test.xyz --repeat 2 2 2 \
    --steps 200 --dt 1.0 --temperature 600 --ensemble nvt --out examples/out/Si_md
