"""tqdm progress of an MD run, with the simulated ns/day and the time left."""
import time


class MDProgress:
    """bar.update(steps) as the run advances; the postfix shows ns/day measured since the
    bar opened (a resumed run does not count the steps done before)."""

    def __init__(self, total_steps, done_steps, dt_fs, enabled=True, desc="MD"):
        self.dt_fs = dt_fs
        self.bar = None
        self.t0 = time.perf_counter()
        self.start = done_steps
        self.done = done_steps
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total_steps, initial=done_steps, unit="step", desc=desc,
                            dynamic_ncols=True)

    def ns_per_day(self) -> float:
        wall = time.perf_counter() - self.t0
        return (self.done - self.start) * self.dt_fs * 1e-6 / wall * 86400 if wall > 0 else 0.0

    def update_to(self, steps_done):
        if steps_done <= self.done:
            return
        n = steps_done - self.done
        self.done = steps_done
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.ns_per_day():.3g} ns/day", refresh=False)
            self.bar.update(n)

    def close(self):
        if self.bar is not None:
            self.bar.close()
