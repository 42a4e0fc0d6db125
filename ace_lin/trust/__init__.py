"""Trust in a model's predictions: the D-optimality extrapolation grade (activeset.py,
grade.py), the Bayesian posterior of the coefficients and its committee (committee.py),
the fit state kept for incremental updates (fitstate.py) and the choice of new data
(select.py)."""
