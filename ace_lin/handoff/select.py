"""Selection of snapshot windows and the checks that a window is fit for nonadiabatic
couplings (consecutive frames at the MD time step, same atoms in the same order, same
cell, no atom jumping across the periodic boundary).

--window START:STOP selects frames START <= k < STOP (frame numbers, or times in fs with
an 'fs' suffix: 1000fs:2000fs selects 1000 <= time_fs < 2000); --every K repeats the window
every K frames (or K fs) until the trajectory ends. Inside a window every frame is kept.
"""
import numpy as np

from ace_lin.handoff.trajectory import TrajectoryError


def _bound(text, what):
    text = text.strip()
    if not text:
        return None, None
    unit = "fs" if text.endswith("fs") else "frames"
    num = text[:-2] if unit == "fs" else text
    try:
        value = float(num) if unit == "fs" else int(num)
    except ValueError:
        raise TrajectoryError(f"{what}: {text!r} is not a frame number or a time like 500fs") from None
    return value, unit


def frame_times(headers):
    """(step, time_fs) arrays from the frame headers."""
    missing = [h.index for h in headers if "time_fs" not in h.info or "step" not in h.info]
    if missing:
        raise TrajectoryError(f"frame {missing[0]} has no step/time_fs in its info line "
                              "(not an `ace-lin md` trajectory)")
    return (np.array([int(h.info["step"]) for h in headers]),
            np.array([float(h.info["time_fs"]) for h in headers]))


def select_windows(headers, window=None, every=None):
    """List of windows, each a list of frame indices."""
    n = len(headers)
    steps, times = frame_times(headers)
    start, stop = (window.split(":", 1) if window else ("", ""))
    if window and ":" not in window:
        raise TrajectoryError(f"--window {window!r}: expected START:STOP")
    (a, ua), (b, ub) = _bound(start, "--window"), _bound(stop, "--window")
    units = {u for u in (ua, ub) if u}
    if len(units) > 1:
        raise TrajectoryError("--window: give both ends in frames or both in fs")
    unit = units.pop() if units else "frames"
    k_every, u_every = _bound(every, "--every") if every else (None, None)
    if u_every and u_every != unit and window:
        raise TrajectoryError("--every: use the unit of --window (frames or fs)")
    unit = u_every or unit
    pos = times if unit == "fs" else np.arange(n)
    lo = a if a is not None else pos[0]
    hi = b if b is not None else pos[-1] + (1 if unit == "frames" else 1e-9)
    if hi <= lo:
        raise TrajectoryError(f"--window {window}: empty (STOP must be larger than START)")
    if k_every is not None and k_every <= 0:
        raise TrajectoryError("--every must be > 0")
    windows = []
    shift = 0.0
    while True:
        sel = [int(k) for k in np.nonzero((pos >= lo + shift) & (pos < hi + shift))[0]]
        if k_every is not None and shift > 0 and (hi + shift > pos[-1] + (1 if unit == "frames" else 1e-9)):
            break  # repeated windows must lie inside the trajectory whole
        if sel:
            windows.append(sel)
        if k_every is None:
            break
        shift += k_every
    if not windows:
        raise TrajectoryError(f"the selection --window {window} --every {every} holds no frames "
                              f"(the trajectory has {n} frames, {times[0]:g} to {times[-1]:g} fs)")
    return windows


def check_frames(frames, windows, headers, allow_cell_change=False, allow_nonuniform=False):
    """Refuse (TrajectoryError) a selection whose frames change atoms, order, cell or time
    spacing. frames: {index: Atoms}."""
    first = frames[windows[0][0]]
    symbols = first.get_chemical_symbols()
    steps, times = frame_times(headers)
    for w in windows:
        for k in w:
            a = frames[k]
            if len(a) != len(symbols):
                raise TrajectoryError(f"frame {k} has {len(a)} atoms, frame {windows[0][0]} has "
                                      f"{len(symbols)}: the atom count changes")
            if a.get_chemical_symbols() != symbols:
                i = next(j for j, (s, t) in enumerate(zip(a.get_chemical_symbols(), symbols)) if s != t)
                raise TrajectoryError(f"frame {k}: atom {i} is {a.get_chemical_symbols()[i]}, in "
                                      f"frame {windows[0][0]} it is {symbols[i]}: the atom order changes")
            if not allow_cell_change and not np.allclose(a.cell.array, first.cell.array,
                                                         rtol=0, atol=1e-8):
                raise TrajectoryError(f"frame {k}: the cell differs from frame {windows[0][0]}'s "
                                      "(NPT?); --allow-cell-change to write each frame's own cell")
        st = steps[w]
        if np.any(np.diff(st) == 0):
            j = int(np.nonzero(np.diff(st) == 0)[0][0])
            raise TrajectoryError(f"frames {w[j]} and {w[j + 1]} repeat step {st[j]}")
        dt = np.diff(times[w])
        if np.any(dt <= 0):
            j = int(np.nonzero(dt <= 0)[0][0])
            raise TrajectoryError(f"frames {w[j]} and {w[j + 1]}: time goes back "
                                  f"({times[w[j]]:g} -> {times[w[j + 1]]:g} fs)")
        if len(dt) and not allow_nonuniform and np.ptp(dt) > 1e-6 * max(dt.max(), 1e-12):
            j = int(np.argmax(np.abs(dt - dt[0]) > 1e-6 * dt.max()))
            raise TrajectoryError(f"non-uniform time spacing: frames {w[j]} -> {w[j + 1]} are "
                                  f"{dt[j]:g} fs apart, frames {w[0]} -> {w[1]} {dt[0]:g} fs "
                                  "(gap or changed stride); --allow-nonuniform to write anyway")


def boundary_jumps(frames, window):
    """(frame before, frame after, atom index) of the first atom that jumps across the periodic boundary
    between consecutive frames of the window (a displacement larger than half a cell
    vector in fractional coordinates), or None."""
    for k0, k1 in zip(window[:-1], window[1:]):
        a, b = frames[k0], frames[k1]
        d = np.linalg.solve(b.cell.array.T, (b.positions - a.positions).T).T
        d[:, ~b.pbc] = 0.0
        bad = np.nonzero(np.abs(d).max(axis=1) > 0.5)[0]
        if len(bad):
            return k0, k1, int(bad[0])
    return None


def unwrap(frames, window):
    """Positions of the window's frames made continuous: each frame's displacement from
    the previous one is taken by the minimum image. Returns {index: positions}."""
    out = {window[0]: frames[window[0]].positions.copy()}
    for k0, k1 in zip(window[:-1], window[1:]):
        b = frames[k1]
        cell = b.cell.array
        d = np.linalg.solve(cell.T, (b.positions - frames[k0].positions).T).T
        d[:, b.pbc] -= np.round(d[:, b.pbc])
        out[k1] = out[k0] + d @ cell
    return out
