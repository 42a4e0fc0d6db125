"""Radial distribution function and mean-square displacement of a trajectory.

rdf: g(r) = <n(r)> / (4 pi r^2 dr rho), n(r) the number of neighbours of an atom in the
shell [r, r + dr), rho = N / V, averaged over atoms and frames (all element pairs).
msd: MSD(tau) = < |r_i(t + tau) - r_i(t) - (R_com(t + tau) - R_com(t))|^2 >_{i,t} (A^2)
from positions made continuous across the periodic boundary; the diffusion coefficient
D = slope / 6 of a straight-line fit of MSD over the lag range [fit_from, fit_to] x (the
longest lag), reported in A^2/ps and cm^2/s (1 A^2/ps = 1e-4 cm^2/s).
"""
import numpy as np

from ace_lin.analysis.correlate import autocorrelation


def rdf(frames, r_max=None, n_bins=200):
    from ace_lin.neighbours import neighbour_list_from_atoms  # C cell list: ~50x ASE's

    a0 = frames[0]
    if r_max is None:
        heights = a0.cell.volume / np.linalg.norm(np.cross(a0.cell[[1, 2, 0]], a0.cell[[2, 0, 1]]), axis=1)
        r_max = min(6.0, 0.5 * heights.min() * 0.999)
    edges = np.linspace(0.0, r_max, n_bins + 1)
    hist = np.zeros(n_bins)
    for a in frames:
        d = neighbour_list_from_atoms(a, r_max).distances()
        hist += np.histogram(d, bins=edges)[0]
    rho = len(a0) / a0.get_volume()
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    g = hist / (len(frames) * len(a0) * rho * shell)
    return 0.5 * (edges[1:] + edges[:-1]), g


def continuous_positions(frames):
    """(n_frames, N, 3) positions without jumps across the periodic boundary."""
    pos = [frames[0].positions.copy()]
    for a, b in zip(frames[:-1], frames[1:]):
        cell = b.cell.array
        d = np.linalg.solve(cell.T, (b.positions - a.positions).T).T
        d[:, b.pbc] -= np.round(d[:, b.pbc])
        pos.append(pos[-1] + d @ cell)
    return np.array(pos)


def msd(positions, masses, dt_fs, max_lag=None):
    """(lag times fs, MSD A^2) averaged over time origins, centre-of-mass motion removed."""
    x = np.asarray(positions, float)
    m = np.asarray(masses, float)
    com = (x * m[None, :, None]).sum(axis=1) / m.sum()
    x = x - com[:, None, :]
    n = len(x)
    max_lag = n // 2 if max_lag is None else min(max_lag, n - 1)
    # |x(t+k) - x(t)|^2 = |x(t+k)|^2 + |x(t)|^2 - 2 x(t).x(t+k): the cross term is an
    # autocorrelation (FFT, O(n log n) instead of O(n * max_lag) over all atoms), the squares
    # are running sums. Each atom's mean position is removed first (it cancels in the
    # difference) so that the terms stay small and nothing is lost to cancellation.
    x = x - x.mean(axis=0)[None]
    sq = np.sum(x * x, axis=(1, 2))
    head, tail = np.concatenate([[0.0], np.cumsum(sq)]), np.concatenate([[0.0], np.cumsum(sq[::-1])])
    k = np.arange(max_lag + 1)
    squares = (2.0 * sq.sum() - head[k] - tail[k]) / (n - k)
    out = (squares - 2.0 * autocorrelation(x, max_lag)) / x.shape[1]
    out[0] = 0.0
    return k * dt_fs, np.maximum(out, 0.0)


def diffusion_coefficient(t_fs, msd_a2, fit_from=0.2, fit_to=1.0):
    """D in A^2/ps from the slope of MSD(t) over [fit_from, fit_to] x t_max."""
    sel = (t_fs >= fit_from * t_fs[-1]) & (t_fs <= fit_to * t_fs[-1])
    if sel.sum() < 2:
        return float("nan")
    slope = np.polyfit(t_fs[sel], msd_a2[sel], 1)[0]  # A^2/fs
    return slope / 6.0 * 1000.0
