"""The distance-transform scale r_scale, chosen by Bayesian evidence when the configuration
leaves it open (r_scale absent or 'auto').

What: the radial basis is a polynomial in t(r) = (1 + r/r_scale)^-p (basis/radial.py), so
r_scale decides where along r the basis has its resolution: a small r_scale gives a power
law r^-p (resolution crowded at short range), a large one an almost linear map (resolution
spread evenly up to the cutoff). One factor multiplies the default r_scale (the sum of
covalent radii) of every element pair, and the long-range channel's scale unless the user
fixed it.

Why by evidence: no fixed default suits every element, and bases that differ only in
r_scale span different function spaces; the log evidence log p(y | basis) of the BLR
solver (fit/solvers.py) compares them on the training data alone, without held-out data.
benchmarks/fit_cv.py (variants default, r_scale_covalent) measures the cross-validated
errors of the chosen scale against the covalent default; benchmarks/RESULTS.md
("Cross-validation", "Hyper-parameter searches") has the numbers and the factors chosen.

How: a successive halving over two interleaved parts of the training set (A = 1/8 of the
configurations, B = the other 7/8; both a mix of all groups):
  1. part A: factors COARSE = 1/2.83, 1, 2.83, then one REFINE step (x or / 1.68) from
     the best towards the vertex of the parabola through their three log evidences
     (log-factor axis, next_factor). When the best is at an end and the vertex lies beyond
     it, the step leaves the grid: an inward step would never look where the maximum is.
     Only one step: the evidence of a small part of the data prefers smaller factors than
     that of all the data, so stepping on while part A's evidence rises would leave both
     finalists off the full-data optimum;
  2. part B: the two best so far are completed on B and compared on all the data, because
     their evidences often differ by less than the scatter of a subset's evidence. The
     winner's two part systems fold into the full training system (triangular factors
     merge exactly), which the fit then solves: no assembly is wasted.
Above LARGE_P basis functions (fit/search.py) stage 2 is skipped: the winner on part A is
completed on part B alone (about 1.4 assemblies, four evaluations on part A's rows only).
Cost: about 2.25 assemblies of the training set instead of one, and six evidence
evaluations (BLRSolver.log_evidence: no singular vectors, on the data rows only, so
part A's evaluations cost O(m_A^2 p) when it has fewer rows m_A than p functions). At
most three p x p factors are held at a time. Deterministic: fixed
candidates, fixed parts, the fit's own assembly and BLR solver.
"""
import math
from dataclasses import replace
from typing import Dict, List, Optional

from ace_lin.fit.assemble import merge_systems
from ace_lin.fit.embedding import embed
from ace_lin.fit.problem import FitProblem, assemble_problem, log_evidence
from ace_lin.fit.search import is_large, parabola_vertex

COARSE = (2.83 ** -1, 1.0, 2.83)
REFINE = 1.68
N_SLICES = 8          # part A = slice 0, B = slices 1-7
MIN_CONFIGS = 12      # fewer training configurations: both stages use all of them


def next_factor(scores: Dict[float, float]) -> float:
    """The fourth part-A candidate from the log evidences of the three COARSE factors: one
    REFINE step from the best towards the vertex of the parabola through the three points
    (log-factor axis). A best in the middle thus steps towards its better neighbour; a best
    at an end steps outwards when the vertex lies beyond that end (or the points curve
    upwards, so the evidence grows without a maximum in sight), inwards otherwise."""
    low, mid, high = COARSE
    e_low, e_mid, e_high = (scores[f] for f in COARSE)
    best = max(COARSE, key=scores.get)
    vertex = parabola_vertex(e_low, e_mid, e_high, math.log(high / mid))  # log(factor / mid)
    if vertex is None:  # no maximum: the evidence grows towards the best end
        vertex = -math.inf if best == low else math.inf
    return best * REFINE if vertex > math.log(best / mid) else best / REFINE


def parts(configs) -> List[list]:
    """The parts A and B (interleaved: configuration i goes to slice i mod 8)."""
    configs = list(configs)
    if len(configs) < MIN_CONFIGS:
        return [configs, []]
    return [configs[::N_SLICES], [c for i, c in enumerate(configs) if i % N_SLICES]]


def with_factor(problem, factor: float, base: dict, base_long: Optional[dict] = None):
    """A copy of the FitProblem whose spec has r_scale = factor * base (per pair, A), and
    long_r_scale = factor * base_long when that is given (the long-range channel's scale
    follows the short one's unless the user fixed it)."""
    scaled = {"r_scale": {k: float(factor * v) for k, v in base.items()}}
    if base_long:
        scaled["long_r_scale"] = {k: float(factor * v) for k, v in base_long.items()}
    spec = embed(replace(problem.spec, **scaled), problem.train,
                 n_threads=problem.cfg.assembly.n_threads)  # the embedding of the new radial base
    return replace(problem, spec=spec, basis=spec.basis())


def choose_r_scale(problem, comm=None, progress: bool = False):
    """(FitProblem with the chosen r_scale, its full training LinearSystem, search record
    for the model metadata). Collective under MPI: every rank calls it and gets the same."""
    base = dict(problem.spec.r_scale)
    fixed_long = "long_r_scale" in problem.cfg.basis.overrides
    base_long = dict(problem.spec.long_r_scale) if problem.spec.has_long and not fixed_long else None
    part_a, part_b = parts(problem.train)
    rank = comm.Get_rank() if comm is not None else 0
    cands: Dict[float, object] = {}
    systems: Dict[float, list] = {}
    tried: List[dict] = []
    bar = None
    if progress and rank == 0:
        from tqdm import tqdm

        total = 4 * len(part_a) + 2 * len(part_b)
        bar = tqdm(total=total, desc="r_scale search", unit="config")

    def add(factor, part):
        if factor not in cands:
            cands[factor], systems[factor] = with_factor(problem, factor, base, base_long), []
        if part:
            systems[factor].append(assemble_problem(cands[factor], part, comm=comm))
            if bar is not None:
                bar.update(len(part))

    def evidence(factor, stage):
        # the merged factor replaces its parts: the later stage folds only its new part in
        systems[factor] = [merge_systems(systems[factor])]
        value = None
        if rank == 0:
            value = log_evidence(cands[factor], systems[factor][0])
        if comm is not None:
            value = comm.bcast(value, root=0)
        tried.append({"factor": float(factor), "stage": stage, "log_evidence": value})
        return value

    scores = {}

    def score_a(f):
        add(f, part_a)
        scores[f] = evidence(f, "A")
        # only the two best can still be finalists: free the others' factors (p x p each)
        # at once, so that at most three are held (two kept, one being assembled)
        for g in sorted(scores, key=scores.get, reverse=True)[2:]:
            if g in systems:
                del cands[g], systems[g]

    for f in COARSE:
        score_a(f)
    score_a(next_factor(scores))
    finalists = sorted(scores, key=scores.get, reverse=True)[:2]
    large = is_large(problem.basis.n_basis)
    if large and part_b:  # the part-A winner only (see the module docstring)
        for f in finalists[1:]:
            del cands[f], systems[f]
        finalists = finalists[:1]
        add(finalists[0], part_b)
        systems[finalists[0]] = [merge_systems(systems[finalists[0]])]
        scores = {finalists[0]: None}  # not scored on all the data (no prior search follows)
    elif part_b:
        for f in finalists:
            add(f, part_b)
        scores = {f: evidence(f, "all") for f in finalists}
    best = max(finalists, key=lambda f: -math.inf if scores[f] is None else scores[f])
    if bar is not None:
        bar.close()
    system = systems[best][0]  # evidence() has folded its parts into one
    record = {"factor": float(best),
              # on all training data (None: large basis, chosen on part A)
              "log_evidence": None if scores[best] is None else float(scores[best]),
              "r_scale": {k: float(best * v) for k, v in base.items()},
              "default_r_scale": base,
              "long_r_scale": ({k: float(best * v) for k, v in base_long.items()}
                               if base_long else None),
              "n_configs": [len(part_a), len(part_b)],
              "tried": tried}
    return cands[best], system, record


def settle_r_scale(problem: FitProblem, comm=None, progress: bool = False):
    """(problem, system): the problem with r_scale chosen by evidence if it was left open
    and the full training system the search assembled on the way; else (problem, None).
    Collective under MPI."""
    if not problem.r_scale_open:
        return problem, None
    chosen, system, record = choose_r_scale(problem, comm=comm, progress=progress)
    return replace(chosen, r_scale_open=False, r_scale_search=record), system
