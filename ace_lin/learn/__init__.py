"""Active learning: grow the training data where the potential extrapolates.

The loop (loop.py) alternates exploration MD with the current model (explore.py), selection
of the frames that add most to the active set (ace_lin.trust), labelling by an ASE calculator
(oracle.py, journal.py) and an update of the model that folds only the new rows into the
fit's triangular factor (update.py). onthefly.py does the same along one trajectory.
"""
