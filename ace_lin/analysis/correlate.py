"""Time correlation functions and their cosine transforms (uniformly sampled data).

autocorrelation(x): C(k) = < x(t) x(t + k dt) >_t averaged over the n - k available time
origins (unbiased), by FFT with zero padding, for k = 0 .. max_lag; x may be (n, ...) and
the product is summed over the trailing axes.
cosine_transform(c, dt): S(nu) = 2 dt [c(0)/2 + sum_{k>=1} w_k c(k) cos(2 pi nu k dt)]
with a Hann window w (the FT of an even correlation function over the positive lags only),
at nu = m / (2 * max_lag * dt) (zero padded to twice the length).
"""
import numpy as np

C_CM_PER_S = 2.99792458e10
THZ_TO_CM1 = 1e12 / C_CM_PER_S  # 33.356 cm^-1 per THz


def autocorrelation(x, max_lag=None):
    x = np.asarray(x, float)
    n = x.shape[0]
    if n < 2:
        raise ValueError("need at least two samples for a correlation function")
    max_lag = n - 1 if max_lag is None else min(int(max_lag), n - 1)
    flat = x.reshape(n, -1)
    size = 1 << int(np.ceil(np.log2(2 * n)))
    f = np.fft.rfft(flat, n=size, axis=0)
    acf = np.fft.irfft((f * f.conj()).real.sum(axis=1), n=size)[:max_lag + 1]
    return acf / (n - np.arange(max_lag + 1))


def cosine_transform(c, dt):
    """(frequencies in 1/time unit of dt, spectrum in units of c * dt)."""
    c = np.asarray(c, float)
    m = len(c)
    w = 0.5 * (1 + np.cos(np.pi * np.arange(m) / m))  # Hann, 1 at lag 0
    g = c * w
    sym = np.concatenate([g, g[-2:0:-1]])  # even extension: c(-k) = c(k)
    spec = np.fft.rfft(sym).real * dt
    nu = np.fft.rfftfreq(len(sym), d=dt)
    return nu, spec
