/* radial.c - radial basis R_n(r) of one species pair and the ZBL core pair term.
 *
 * R_n(r) = P_{n-1}(x(r)) * (1 - x^2)^3 for r_in < r < r_cut, else 0, where P is a
 * Legendre polynomial and x maps the transformed distance t(r) = (1 + r/s)^-p linearly
 * onto [-1, 1] (x = 1 at r_in, x = -1 at r_cut). The envelope (1 - x^2)^3 vanishes to
 * third order at both ends, so energies are C2 at r_cut and at r_in.
 * An optional long-range channel is a second such set with its own r_cut and scale.
 */
#include <math.h>

#include "internal.h"

double acelin_transform_t(double r, double scale, int p, double *dt_dr)
{
    double b = 1.0 + r / scale, inv = 1.0 / b, t = 1.0;
    for (int k = 0; k < p; ++k) t *= inv;
    if (dt_dr) *dt_dr = -p * t * inv / scale;
    return t;
}

/* N functions P_{n-1}(x) (1 - x^2)^3 of one channel at r, zero outside (r_in, r_cut). */
static void channel(double r, double r_in, double r_cut, double scale, int p, double t_in,
                    double t_span, int N, const double *leg, double *R, double *dR)
{
    if (r <= r_in || r >= r_cut) {
        for (int n = 0; n < N; ++n) R[n] = dR[n] = 0.0;
        return;
    }
    double dt;
    double t = acelin_transform_t(r, scale, p, &dt);
    double x = 2.0 * (t - t_in) / t_span + 1.0;
    double dx = 2.0 * dt / t_span;
    double w = 1.0 - x * x, env = w * w * w, denv = -6.0 * x * w * w; /* d env / dx */
    /* Legendre recurrence for P_k and P_k' (the first two outside the loop: no branches in it) */
    double p0 = 1.0, p1 = x, d0 = 0.0, d1 = 1.0;
    R[0] = env;
    dR[0] = denv * dx;
    if (N > 1) {
        R[1] = x * env;
        dR[1] = (env + x * denv) * dx;
    }
    for (int n = 2; n < N; ++n) {
        const int k = n - 1; /* P_{k+1} from P_k, P_{k-1} */
        const double P = leg[2 * k] * x * p1 - leg[2 * k + 1] * p0; /* ((2k+1) x P_k - k P_{k-1}) / (k+1) */
        const double dP = d0 + (2 * k + 1) * p1;
        p0 = p1; p1 = P; d0 = d1; d1 = dP;
        R[n] = P * env;
        dR[n] = (dP * env + P * denv) * dx;
    }
}

/* R[0..n_radial) of the short channel, then R[n_spad..n_spad+n_long) of the long-range
 * channel (n_spad: n_radial rounded up to whole SIMD lanes), zeros in between and up to
 * n_rpad. */
void acelin_radial(const acelin_model *m, int pair, double r, double *R, double *dR)
{
    const int N = m->n_radial, NL = m->n_long, S = m->n_spad;
    for (int n = N; n < S; ++n) R[n] = dR[n] = 0.0;
    for (int n = S + NL; n < m->n_rpad; ++n) R[n] = dR[n] = 0.0;
    channel(r, m->r_in[pair], m->r_cut[pair], m->r_scale[pair], m->p, m->t_in[pair],
            m->t_span[pair], N, m->leg, R, dR);
    if (NL)
        channel(r, m->r_in[pair], m->r_cut_long[pair], m->r_scale_long[pair], m->p,
                m->t_in_long[pair], m->t_span_long[pair], NL, m->leg, R + S, dR + S);
}

/* ZBL universal screened nuclear repulsion, switched off smoothly (C2 quintic) between
 * r_in (fully on below) and r_core (fully off above). Returns V(r) in eV. */
double acelin_core_pair(const acelin_model *m, int pair, double r, double *dV_dr)
{
    const double rc = m->r_core[pair], ri = m->r_in[pair];
    *dV_dr = 0.0;
    if (rc <= 0.0 || r >= rc) return 0.0;
    static const double c[4] = {0.18175, 0.50986, 0.28022, 0.02817};
    static const double d[4] = {3.19980, 0.94229, 0.40290, 0.20162};
    const double ke = 14.399645478425668; /* e^2 / (4 pi eps0), eV A */
    const int zi = pair / m->ns, zj = pair % m->ns;
    const double a = m->zbl_a[pair];
    double pre = ke * m->Z[zi] * m->Z[zj];
    double s = 0.0, ds = 0.0;
    for (int k = 0; k < 4; ++k) {
        double e = c[k] * exp(-d[k] * r / a);
        s += e;
        ds += -d[k] / a * e;
    }
    double phi = pre * s / r, dphi = pre * (ds / r - s / (r * r));
    double sw = 1.0, dsw = 0.0;
    if (r > ri) {
        double h = rc - ri, y = (r - ri) / h;
        sw = 1.0 - y * y * y * (10.0 - 15.0 * y + 6.0 * y * y);
        dsw = -30.0 * y * y * (1.0 - y) * (1.0 - y) / h;
    }
    *dV_dr = dphi * sw + phi * dsw;
    return phi * sw;
}
