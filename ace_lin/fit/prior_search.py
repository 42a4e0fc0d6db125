"""The smoothness prior's exponent p, chosen by Bayesian evidence when the configuration
leaves it open (p: auto, the default).

What: the algebraic prior gamma_j = 1 + d_j^p (fit/prior.py) says how much faster than its
degree d_j a basis function's coefficient must shrink: a large p trusts only smooth, low
degree functions, a small p lets high degrees (fast radial and angular variation) carry
weight.

Why by evidence: as for r_scale (fit/r_scale_search.py), no fixed value suits every data
set. The log evidence log p(y | p) of the BLR solver (fit/solvers.py) compares exponents on
the training data alone; alpha and beta are maximized for each p as usual.
benchmarks/fit_cv.py (variants default, prior_p3) and benchmarks/fit_accuracy.py measure
the chosen exponent against a fixed p = 3; benchmarks/RESULTS.md ("Cross-validation",
"Hyper-parameter searches") has the numbers and the exponents chosen per data set.

How: evidences at START = 2, 3, 4, then one more at the vertex of the parabola through
those three (clipped to [LOW, HIGH] = [1, 5]; skipped when it lies within MIN_GAP of a
tried exponent); the largest of the four wins. Cost: up to four evidence evaluations of the
assembled system (each a bidiagonalization of its square triangular factor, no
reassembly), one fewer when the r_scale search already scored p = 3 on the full system.
Above LARGE_P basis functions (fit/search.py) nothing is scored: the exponent stays at the
start value 3, and the record says why.
The lower bound keeps the prior a smoothness prior (the penalty grows at least linearly
with the degree); the upper one lies where the evidence of every benchmark data set has
fallen off.
"""
from dataclasses import replace
from typing import Callable, Dict, List, Optional, Tuple

from ace_lin.fit.problem import FitProblem, log_evidence
from ace_lin.fit import search  # search.LARGE_P read at call time (tests lower it)
from ace_lin.fit.search import PRIOR_START, is_large, parabola_vertex

START = PRIOR_START
LOW, HIGH = 1.0, 5.0
MIN_GAP = 0.2
DIGITS = 2   # the vertex is rounded: the evidence is flat on that scale, the record readable


def next_power(scores: Dict[float, float]) -> Optional[float]:
    """The fourth exponent from the log evidences at START: the vertex of the parabola
    through them, clipped to [LOW, HIGH] (the better end when the points curve upwards);
    None when it is within MIN_GAP of an exponent already scored."""
    low, mid, high = START
    e_low, e_mid, e_high = (scores[p] for p in START)
    offset = parabola_vertex(e_low, e_mid, e_high, mid - low)
    if offset is None:  # no maximum in sight: towards the better end, as far as allowed
        vertex = LOW if e_low >= e_high else HIGH
    else:
        vertex = mid + offset
    vertex = round(min(max(vertex, LOW), HIGH), DIGITS)
    if min(abs(vertex - p) for p in scores) < MIN_GAP:
        return None
    return vertex


def choose_power(score: Callable[[float], float],
                 known: Optional[Dict[float, float]] = None) -> Tuple[float, List[dict]]:
    """(chosen p, [{p, log_evidence}] in the order scored). score(p) is the log evidence
    with exponent p; `known` holds evidences already computed (not scored again)."""
    scores = dict(known or {})
    tried = [{"p": float(p), "log_evidence": float(v), "known": True} for p, v in scores.items()]

    def add(p):
        if p not in scores:
            scores[p] = float(score(p))
            tried.append({"p": float(p), "log_evidence": scores[p], "known": False})

    for p in START:
        add(p)
    extra = next_power(scores)
    if extra is not None:
        add(extra)
    best = max(sorted(scores), key=scores.get)   # sorted: ties go to the smaller p
    return best, tried


def settle_prior(problem: FitProblem, system, known: Optional[Dict[float, float]] = None):
    """The problem with the prior exponent chosen by the evidence of `system` if it was
    left open; else the problem unchanged. `known`: {p: log evidence} already computed on
    this system. Local to the calling rank (no communication)."""
    if not problem.prior_open:
        return problem
    if is_large(problem.basis.n_basis):
        p = PRIOR_START[1]
        return replace(problem, prior=replace(problem.prior, p=p), prior_open=False,
                       prior_search={"p": p, "tried": [],
                                     "skipped": f"n_basis > {search.LARGE_P}: start exponent kept"})

    def score(p):
        return log_evidence(replace(problem, prior=replace(problem.prior, p=p)), system)

    best, tried = choose_power(score, known)
    return replace(problem, prior=replace(problem.prior, p=best), prior_open=False,
                   prior_search={"p": best, "tried": tried})
