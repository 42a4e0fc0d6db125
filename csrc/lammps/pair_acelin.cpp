/* pair_acelin.cpp - LAMMPS adapter for the ace_lin C core (no physics here).
 *
 * Per step: the FULL neighbour list, cut to each species pair's cutoff, becomes the
 * core's CSR arrays (centre species, neighbour species, dr = r_j - r_i); acelin_compute
 * returns E_i and g_b = dE_i/d(dr_b); this file scatters f_i += g, f_j -= g and tallies
 * the virial of each bond, -dr (x) g, half to i and half to j.
 *
 * newton_pair off: LAMMPS neither clears nor reverse-communicates ghost forces, so ghost
 * contributions (forces, and per-atom virials when asked) go to a buffer of our own that
 * comm->reverse_comm(this) folds back into the owners. Each bond is evaluated on exactly
 * one rank, so the global virial always takes the whole bond (ev_tally_xyz would take
 * half of a cross-rank bond with newton off).
 *
 * Extrapolation grade through LAMMPS's fix pair (`fix ID all pair N acelin gamma 1`): the
 * fix sets the int behind extract("gamma_flag") on the steps it wants; compute() then
 * also asks the core for the grade of every local atom (acelin_grade) into the per-atom
 * vector behind extract_peratom("gamma") (0 for atoms of NULL types), and the fix copies
 * it and clears the flag. Other steps pay nothing for it.
 */
#include "pair_acelin.h"

#include "acelin.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "update.h"
#include "utils.h"

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

using namespace LAMMPS_NS;

namespace {

struct ModelFree {
  void operator()(acelin_model *m) const { acelin_model_free(m); }
};
using ModelPtr = std::unique_ptr<acelin_model, ModelFree>;

// Per-step arrays keep their capacity between steps: no allocation once warmed up.
template <class T> T *at_least(std::vector<T> &v, size_t n)
{
  if (v.size() < n) v.resize(n + n / 8 + 16);
  return v.data();
}

// Centres k0 .. k1 of thread t of nth: contiguous, in order, the first n % nth threads one
// more (OpenMP's static schedule, and the core's ranges of atom groups before threads take
// from each other): the bond list, the core and the scatter then touch most bonds' data
// from one thread.
void thread_span(int n, int t, int nth, int &k0, int &k1)
{
  const int chunk = n / nth, rest = n % nth;
  k0 = t * chunk + std::min(t, rest);
  k1 = k0 + chunk + (t < rest);
}

constexpr int VIRIAL_SLOTS = 6;             // xx yy zz xy xz yz (LAMMPS order)
constexpr int GHOST_STRIDE_MAX = 3 + VIRIAL_SLOTS;

}    // namespace

struct PairACELin::Impl {
  ModelPtr model;
  std::string path;
  int n_species = 0;
  std::vector<int> type_species;       // [ntypes+1] model species of a LAMMPS type, -1 = NULL
  std::vector<double> cutsq_species;   // [ns*ns] squared pair cutoff, A^2

  // CSR input of the core for this step
  int n_centres = 0;
  int64_t n_bonds = 0;
  std::vector<int> centre_atom;        // [n_centres] LAMMPS index of centre k
  std::vector<int> centre_species;     // [n_centres]
  std::vector<int64_t> neigh_start;    // [n_centres+1]
  std::vector<int> neigh_atom;         // [n_bonds] LAMMPS index (local or ghost) of j
  std::vector<int> neigh_species;      // [n_bonds]
  std::vector<double> dr;              // [n_bonds*3] r_j - r_i, A
  std::vector<double> energy;          // [n_centres] eV
  std::vector<double> dE_dr;           // [n_bonds*3] eV/A

  // extrapolation grade, on the steps fix pair sets gamma_flag
  int gamma_flag = 0;
  std::vector<double> gamma;           // [nlocal] per local atom (fix pair reads it)
  std::vector<double> gamma_centre;    // [n_centres]

  // newton_pair off: ghost contributions [nall*stride]: f (3), then per-atom virial (6)
  std::vector<double> ghost_sum;
  int stride = 3;

  // threaded scatter: forces of threads 1.. [(nthreads-1)*nall*3], added after the loop
  std::vector<double> thread_force;
  std::vector<double> thread_part;     // [nthreads*(1+6)]: energy and virial of each thread
  // bond list: each thread's bonds before they go to the CSR arrays, [thread][...]
  std::vector<std::vector<int>> tb_atom, tb_species;
  std::vector<std::vector<double>> tb_dr;
};

PairACELin::PairACELin(LAMMPS *lmp) : Pair(lmp), impl(new Impl)
{
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  // the global virial is tallied per bond (same numbers for newton on and off)
  no_virial_fdotr_compute = 1;
  comm_reverse = 0;
  comm_reverse_off = GHOST_STRIDE_MAX;
}

PairACELin::~PairACELin()
{
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
  }
}

void PairACELin::allocate()
{
  allocated = 1;
  const int n = atom->ntypes + 1;
  memory->create(setflag, n, n, "pair:setflag");
  memory->create(cutsq, n, n, "pair:cutsq");
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) setflag[i][j] = 0;
}

void PairACELin::require_metal_units()
{
  // model files are in eV and Angstrom; there is no conversion layer
  if (strcmp(update->unit_style, "metal") != 0)
    error->all(FLERR, std::string("Pair style acelin requires 'units metal' (eV, Angstrom), not '") +
                          update->unit_style + "'");
}

void PairACELin::settings(int narg, char ** /*arg*/)
{
  if (narg != 0) error->all(FLERR, "Illegal pair_style acelin command: it takes no arguments");
  require_metal_units();
}

static std::string load_error(acelin_status st, const char *path, const char *msg)
{
  std::string s = std::string("pair_coeff acelin: cannot use model file '") + path + "': " + msg;
  if (st == ACELIN_ERR_VERSION)
    s += " (this plugin reads format version " + std::to_string(ACELIN_FORMAT_VERSION) +
        "; rebuild it with the ace_lin that wrote the file: ace-lin lammps-plugin build)";
  else if (st == ACELIN_ERR_CHECKSUM)
    s += " (the file was changed after ace_lin wrote it)";
  return s;
}

void PairACELin::coeff(int narg, char **arg)
{
  if (!allocated) allocate();
  const int ntypes = atom->ntypes;
  if (narg != 3 + ntypes || strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "Incorrect args for pair coefficients: expected 'pair_coeff * * MODEL_FILE' "
                      "and one element name or NULL for each of the " + std::to_string(ntypes) +
                      " atom types");

  char msg[512];
  acelin_model *raw = nullptr;
  const acelin_status st = acelin_model_load(arg[2], &raw, msg, sizeof msg);
  if (st != ACELIN_OK) error->all(FLERR, load_error(st, arg[2], msg));
  ModelPtr model(raw);

  const int ns = acelin_model_n_species(model.get());
  std::vector<int> type_species(ntypes + 1, -1);
  for (int t = 1; t <= ntypes; ++t) {
    const char *el = arg[2 + t];
    if (strcmp(el, "NULL") == 0) continue;
    type_species[t] = acelin_model_species_index(model.get(), el);
    if (type_species[t] < 0) {
      std::string known;
      for (int s = 0; s < ns; ++s) known += std::string(s ? " " : "") + acelin_model_element(model.get(), s);
      error->all(FLERR, std::string("pair_coeff acelin: element '") + el + "' (atom type " +
                            std::to_string(t) + ") is not in model file '" + arg[2] +
                            "' (elements: " + known + ")");
    }
  }

  int count = 0;
  for (int i = 1; i <= ntypes; ++i)
    for (int j = i; j <= ntypes; ++j) {
      setflag[i][j] = (type_species[i] >= 0 && type_species[j] >= 0) ? 1 : 0;
      count += setflag[i][j];
    }
  if (count == 0) error->all(FLERR, "Incorrect args for pair coefficients: every atom type is NULL");

  impl->cutsq_species.assign((size_t) ns * ns, 0.0);
  for (int a = 0; a < ns; ++a)
    for (int b = 0; b < ns; ++b) {
      const double rc = acelin_model_cutoff(model.get(), a, b);
      impl->cutsq_species[(size_t) a * ns + b] = rc * rc;
    }
  impl->model = std::move(model);
  impl->path = arg[2];
  impl->n_species = ns;
  impl->type_species = std::move(type_species);

  if (comm->me == 0) {
    std::string s = "pair acelin: model " + impl->path + ", " +
        std::to_string(acelin_model_n_basis(impl->model.get())) + " basis functions, types";
    for (int t = 1; t <= ntypes; ++t) s += std::string(" ") + arg[2 + t];
    char cut[64];
    snprintf(cut, sizeof cut, ", max cutoff %.4g A\n", acelin_model_max_cutoff(impl->model.get()));
    utils::logmesg(lmp, s + cut);
  }
}

void PairACELin::init_style()
{
  require_metal_units();
  if (atom->tag_enable == 0) error->all(FLERR, "Pair style acelin requires atom IDs");
  if (!impl->model) error->all(FLERR, "Pair style acelin: no model (pair_coeff * * MODEL_FILE ...)");
  neighbor->add_request(this, NeighConst::REQ_FULL);
}

double PairACELin::init_one(int i, int j)
{
  if (setflag[i][j] == 0) error->all(FLERR, "All pair coeffs are not set");
  const int a = impl->type_species[i], b = impl->type_species[j];
  // LAMMPS keeps one cutoff per unordered type pair
  return std::max(acelin_model_cutoff(impl->model.get(), a, b),
                  acelin_model_cutoff(impl->model.get(), b, a));
}

void PairACELin::build_bonds()
{
  Impl &m = *impl;
  double **x = atom->x;
  const int *type = atom->type;
  const int inum = list->inum;
  const int *ilist = list->ilist;
  const int *numneigh = list->numneigh;
  int **firstneigh = list->firstneigh;
  const int *tsp = m.type_species.data();
  const int ns = m.n_species;

  // centres (atoms of a model element), then their bonds in parallel over them
  int *c_atom = at_least(m.centre_atom, inum);
  int *c_species = at_least(m.centre_species, inum);
  int64_t *start = at_least(m.neigh_start, (size_t) inum + 1);
  int k = 0;
  for (int ii = 0; ii < inum; ++ii) {
    const int i = ilist[ii];
    if (tsp[type[i]] < 0) continue;
    c_atom[k] = i;
    c_species[k++] = tsp[type[i]];
  }
  const double *cutsq = m.cutsq_species.data();
  // the candidates of centre c (list index i) into out_* from 0 on, those in range kept:
  // every candidate is written and the next slot advances by 0 or 1, so no branch depends
  // on the distance (about half of the skin's candidates are out, at random); the out_*
  // arrays need room for all candidates
  auto in_range = [&](int i, int c, int *out_atom, int *out_species, double *out_dr) {
    const double *cut2 = cutsq + (size_t) c_species[c] * ns;
    const int *jlist = firstneigh[i];
    const double xi = x[i][0], yi = x[i][1], zi = x[i][2];
    int n = 0;
    for (int jj = 0; jj < numneigh[i]; ++jj) {
      const int j = jlist[jj] & NEIGHMASK;
      const int sj = tsp[type[j]];
      const double dx = x[j][0] - xi, dy = x[j][1] - yi, dz = x[j][2] - zi;
      out_atom[n] = j;
      out_species[n] = sj;
      out_dr[3 * n] = dx;
      out_dr[3 * n + 1] = dy;
      out_dr[3 * n + 2] = dz;
      n += (sj >= 0) && (dx * dx + dy * dy + dz * dz < cut2[sj < 0 ? 0 : sj]);
    }
    return n;
  };
  const int nt = comm->nthreads > 0 ? comm->nthreads : 1;
  // One pass over the candidates: each thread keeps the bonds of its centres (a static
  // split in order, as the scatter's and the core's ranges) in buffers of its own, sized
  // for all their candidates; once every centre's count is known, the buffers go to their
  // places (thread 0's are the final arrays already).
  if (m.tb_atom.size() < (size_t) nt) {
    m.tb_atom.resize(nt);
    m.tb_species.resize(nt);
    m.tb_dr.resize(nt);
  }
  int failed = 0;    // out of memory in a thread (no exception may leave the region)
  int64_t nb = 0;
#if defined(_OPENMP)
#pragma omp parallel num_threads(nt)
#endif
  {
#if defined(_OPENMP)
    const int t = omp_get_thread_num(), nth = omp_get_num_threads();
#else
    const int t = 0, nth = 1;
#endif
    int k0, k1;
    thread_span(k, t, nth, k0, k1);
    size_t cand = 0;
    for (int c = k0; c < k1; ++c) cand += numneigh[c_atom[c]];
    int *b_atom = nullptr, *b_species = nullptr;
    double *b_dr = nullptr;
    try {    // thread 0's bonds start at 0: it writes them in place (no copy with 1 thread)
      b_atom = at_least(t ? m.tb_atom[t] : m.neigh_atom, cand + 1);
      b_species = at_least(t ? m.tb_species[t] : m.neigh_species, cand + 1);
      b_dr = at_least(t ? m.tb_dr[t] : m.dr, 3 * cand + 3);
    } catch (std::bad_alloc &) {
#if defined(_OPENMP)
#pragma omp atomic write
#endif
      failed = 1;
    }
    int64_t kept = 0;
    if (b_dr)
      for (int c = k0; c < k1; ++c) {
        const int i = c_atom[c];
        const int n = in_range(i, c, b_atom + kept, b_species + kept, b_dr + 3 * kept);
        start[c + 1] = n;
        kept += n;
      }
#if defined(_OPENMP)
#pragma omp barrier
#pragma omp single
#endif
    {
      start[0] = 0;
      for (int c = 0; c < k; ++c) start[c + 1] += start[c];
      nb = start[k];
      if (!failed) try {    // (a resize keeps thread 0's bonds)
          at_least(m.neigh_atom, (size_t) nb);
          at_least(m.neigh_species, (size_t) nb);
          at_least(m.dr, 3 * (size_t) nb);
        } catch (std::bad_alloc &) {
          failed = 1;
        }
    }    // (the end of single is a barrier)
    if (!failed && t > 0) {
      const int64_t at = start[k0];
      std::copy(b_atom, b_atom + kept, m.neigh_atom.data() + at);
      std::copy(b_species, b_species + kept, m.neigh_species.data() + at);
      std::copy(b_dr, b_dr + 3 * kept, m.dr.data() + 3 * at);
    }
  }
  if (failed) throw std::bad_alloc();    // compute() reports it
  m.n_centres = k;
  m.n_bonds = nb;
  at_least(m.energy, k);
  at_least(m.dE_dr, 3 * (size_t) nb);
}

void PairACELin::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  Impl &m = *impl;
  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;

  const bool own_ghosts = force->newton_pair == 0;
  try {
    build_bonds();
    if (own_ghosts) {
      m.stride = vflag_atom ? GHOST_STRIDE_MAX : 3;
      double *g = at_least(m.ghost_sum, (size_t) nall * m.stride);
      std::fill(g, g + (size_t) nall * m.stride, 0.0);
    }
  } catch (std::bad_alloc &) {    // a C++ exception must not cross into LAMMPS
    error->one(FLERR, "pair acelin: out of memory for the per-step arrays");
  }

  acelin_error err;
  // comm->nthreads is LAMMPS's thread count: OMP_NUM_THREADS (or package omp), else 1
  const acelin_status st =
      acelin_compute_ex(m.model.get(), m.n_centres, m.centre_species.data(), m.neigh_start.data(),
                        m.neigh_species.data(), m.dr.data(), m.energy.data(), m.dE_dr.data(),
                        comm->nthreads, &err);
  if (st != ACELIN_OK) core_error(err);

  scatter(nlocal);
  if (own_ghosts) {
    comm->reverse_comm(this, m.stride);
    fold_ghost_buffer(nlocal);
  }
  if (m.gamma_flag) compute_grade(nlocal);
}

void PairACELin::compute_grade(int nlocal)
{
  Impl &m = *impl;
  double *gamma = nullptr, *g_centre = nullptr;
  try {
    gamma = at_least(m.gamma, (size_t) nlocal + 1);    // never empty: fix pair wants a pointer
    g_centre = at_least(m.gamma_centre, (size_t) m.n_centres + 1);
  } catch (std::bad_alloc &) {
    error->one(FLERR, "pair acelin: out of memory for the extrapolation grade");
  }
  std::fill(gamma, gamma + nlocal, 0.0);
  acelin_error err;
  const acelin_status st =
      acelin_grade_ex(m.model.get(), m.n_centres, m.centre_species.data(), m.neigh_start.data(),
                      m.neigh_species.data(), m.dr.data(), g_centre, comm->nthreads, &err);
  if (st == ACELIN_ERR_NO_ACTIVE_SET)
    error->one(FLERR, std::string("pair acelin: fix pair asked for the extrapolation grade (gamma), "
                                  "but model file '") + m.path + "' has no active set for element " +
                   acelin_model_element(m.model.get(), m.centre_species[err.atom]) +
                   " (build one: ace-lin activeset MODEL TRAIN_DATA)");
  if (st != ACELIN_OK) core_error(err);
  for (int k = 0; k < m.n_centres; ++k)
    if (m.centre_atom[k] < nlocal) gamma[m.centre_atom[k]] = g_centre[k];
}

void *PairACELin::extract(const char *name, int &dim)
{
  dim = 0;
  if (strcmp(name, "gamma_flag") == 0) return &impl->gamma_flag;
  return nullptr;
}

void *PairACELin::extract_peratom(const char *name, int &ncol)
{
  if (strcmp(name, "gamma") != 0) return nullptr;
  ncol = 0;    // one value per atom: a per-atom vector
  return impl->gamma.empty() ? nullptr : impl->gamma.data();
}

// The core numbers centre atoms 0..n-1 and bonds 0..n_bonds-1: name LAMMPS atom IDs instead.
void PairACELin::core_error(const acelin_error &err)
{
  const Impl &m = *impl;
  std::string s = std::string("pair acelin: ") + err.message;
  if (err.atom >= 0 && err.atom < m.n_centres) {
    s += " [centre atom ID " + std::to_string((long long) atom->tag[m.centre_atom[err.atom]]);
    if (err.bond >= 0 && err.bond < m.n_bonds)
      s += ", neighbour atom ID " + std::to_string((long long) atom->tag[m.neigh_atom[err.bond]]);
    s += "]";
  }
  error->one(FLERR, s);
}

// f_i += g and f_j -= g of every bond, the energies and the virial. With several threads
// (and no per-atom virial) the centres are split as the bond list split them (static, in
// order), so each thread reads the per-bond arrays it wrote itself: moving those between
// cores was what held threaded runs back. Thread 0 adds into LAMMPS's arrays, the others
// into forces of their own, summed in after the loop; the sums are the same up to round-off
// as the serial ones.
void PairACELin::scatter(int nlocal)
{
  Impl &m = *impl;
  const int nt = comm->nthreads > 0 ? comm->nthreads : 1;
#if defined(_OPENMP)
  if (nt > 1 && !vflag_atom) {
    scatter_threads(nlocal, nt);
    return;
  }
#endif
  double e = 0.0, v[VIRIAL_SLOTS] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  scatter_centres(nlocal, 0, m.n_centres, nullptr, e, v);
  if (eflag_global) eng_vdwl += e;
  if (vflag_global)
    for (int c = 0; c < VIRIAL_SLOTS; ++c) virial[c] += v[c];
}

// centres k0 .. k1: forces into own (3 per atom, any atom) if given, else into f and, for
// ghosts with newton_pair off, the ghost buffer; energy and global virial summed into e, v
void PairACELin::scatter_centres(int nlocal, int k0, int k1, double *own, double &e, double *v)
{
  Impl &m = *impl;
  double **f = atom->f;
  const bool direct_ghosts = force->newton_pair != 0;
  const int stride = m.stride;
  double *ghost = m.ghost_sum.data();

  for (int k = k0; k < k1; ++k) {
    const int i = m.centre_atom[k];
    e += m.energy[k];
    if (eflag_atom) eatom[i] += m.energy[k];
    double fi[3] = {0.0, 0.0, 0.0}; // added to f[i] once (j == i is impossible: no self-bond)
    for (int64_t b = m.neigh_start[k]; b < m.neigh_start[k + 1]; ++b) {
      const int j = m.neigh_atom[b];
      const double *g = &m.dE_dr[3 * b];
      const bool j_direct = direct_ghosts || j < nlocal;
      double *fj = own ? own + 3 * (size_t) j : j_direct ? f[j] : ghost + (size_t) j * stride;
      for (int a = 0; a < 3; ++a) {
        fi[a] += g[a];
        fj[a] -= g[a];
      }
      if (!vflag_either) continue;
      const double *d = &m.dr[3 * b];
      // sum over atoms of r (x) f for this bond's force pair: -dr (x) g
      const double vb[VIRIAL_SLOTS] = {-d[0] * g[0], -d[1] * g[1], -d[2] * g[2],
                                       -d[0] * g[1], -d[0] * g[2], -d[1] * g[2]};
      if (vflag_global)
        for (int c = 0; c < VIRIAL_SLOTS; ++c) v[c] += vb[c];
      if (vflag_atom) {    // serial only (scatter)
        double *vj = j_direct ? vatom[j] : ghost + (size_t) j * stride + 3;
        for (int c = 0; c < VIRIAL_SLOTS; ++c) {
          vatom[i][c] += 0.5 * vb[c];
          vj[c] += 0.5 * vb[c];
        }
      }
    }
    double *fo = own ? own + 3 * (size_t) i : f[i];
    for (int a = 0; a < 3; ++a) fo[a] += fi[a];
  }
}

void PairACELin::scatter_threads(int nlocal, int nt)
{
#if defined(_OPENMP)
  Impl &m = *impl;
  const int nall = nlocal + atom->nghost;
  const bool direct_ghosts = force->newton_pair != 0;
  double *tf = nullptr, *part = nullptr;    // part: energy and virial of each thread
  try {
    tf = at_least(m.thread_force, (size_t) (nt - 1) * nall * 3);
    part = at_least(m.thread_part, (size_t) nt * (1 + VIRIAL_SLOTS));
  } catch (std::bad_alloc &) {
    error->one(FLERR, "pair acelin: out of memory for the per-thread forces");
  }
  std::fill(part, part + (size_t) nt * (1 + VIRIAL_SLOTS), 0.0);
  double **f = atom->f;
  double *ghost = m.ghost_sum.data();
  const int stride = m.stride;
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), nth = omp_get_num_threads();
    double *own = t ? tf + (size_t) (t - 1) * nall * 3 : nullptr;
    if (own) std::fill(own, own + (size_t) nall * 3, 0.0);
    int k0, k1;    // the bond list's split of the centres
    thread_span(m.n_centres, t, nth, k0, k1);
    double *pt = part + (size_t) t * (1 + VIRIAL_SLOTS);
    scatter_centres(nlocal, k0, k1, own, pt[0], pt + 1);
#pragma omp barrier
#pragma omp for schedule(static)
    for (int j = 0; j < nall; ++j) {
      double *fj = (direct_ghosts || j < nlocal) ? f[j] : ghost + (size_t) j * stride;
      for (int u = 1; u < nth; ++u) {
        const double *s = tf + ((size_t) (u - 1) * nall + j) * 3;
        fj[0] += s[0];
        fj[1] += s[1];
        fj[2] += s[2];
      }
    }
  }
  for (int t = 0; t < nt; ++t) {    // in thread order: the same sums every run
    const double *pt = part + (size_t) t * (1 + VIRIAL_SLOTS);
    if (eflag_global) eng_vdwl += pt[0];
    if (vflag_global)
      for (int c = 0; c < VIRIAL_SLOTS; ++c) virial[c] += pt[1 + c];
  }
#else
  (void) nlocal;
  (void) nt;
#endif
}

void PairACELin::fold_ghost_buffer(int nlocal)
{
  Impl &m = *impl;
  double **f = atom->f;
  const double *g = m.ghost_sum.data();
  for (int i = 0; i < nlocal; ++i) {
    const double *gi = g + (size_t) i * m.stride;
    for (int a = 0; a < 3; ++a) f[i][a] += gi[a];
    if (m.stride == GHOST_STRIDE_MAX)
      for (int c = 0; c < VIRIAL_SLOTS; ++c) vatom[i][c] += gi[3 + c];
  }
}

int PairACELin::pack_reverse_comm(int n, int first, double *buf)
{
  const int s = impl->stride;
  const double *g = impl->ghost_sum.data() + (size_t) first * s;
  std::copy(g, g + (size_t) n * s, buf);
  return n * s;
}

void PairACELin::unpack_reverse_comm(int n, int *list_in, double *buf)
{
  const int s = impl->stride;
  double *g = impl->ghost_sum.data();
  for (int i = 0; i < n; ++i)
    for (int c = 0; c < s; ++c) g[(size_t) list_in[i] * s + c] += buf[(size_t) i * s + c];
}

double PairACELin::memory_usage()
{
  const Impl &m = *impl;
  double bytes = Pair::memory_usage();
  bytes += (double) (m.centre_atom.capacity() + m.centre_species.capacity() + m.neigh_atom.capacity() +
                     m.neigh_species.capacity()) * sizeof(int);
  bytes += (double) m.neigh_start.capacity() * sizeof(int64_t);
  bytes += (double) (m.dr.capacity() + m.energy.capacity() + m.dE_dr.capacity() + m.ghost_sum.capacity() +
                     m.gamma.capacity() + m.gamma_centre.capacity()) *
      sizeof(double);
  return bytes;
}
