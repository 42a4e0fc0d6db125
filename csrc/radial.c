/* radial.c - the distance transform of the radial basis and the ZBL core pair term.
 *
 * R_n(r) = P_{n-1}(x(r)) * (1 - x^2)^3 for r_in < r < r_cut, else 0, where P is a
 * Legendre polynomial and x maps the transformed distance t(r) = (1 + r/s)^-p linearly
 * onto [-1, 1] (x = 1 at r_in, x = -1 at r_cut). The envelope (1 - x^2)^3 vanishes to
 * third order at both ends, so energies are C2 at r_cut and at r_in.
 * An optional long-range channel is a second such set with its own r_cut and scale.
 * The functions themselves are evaluated for four neighbours at a time (kernels_impl.h,
 * radial_prep and radial_recur); here is the transform t(r) the model's tables are derived with.
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
