/* pair_acelin.h - LAMMPS pair style "acelin": a thin adapter over the ace_lin C core.
 *
 *   pair_style acelin
 *   pair_coeff * * MODEL_FILE El1 El2 ...     (one element or NULL per atom type)
 *   fix ID all pair N acelin gamma 1          (optional: extrapolation grade as f_ID
 *                                              every N steps; the model needs an active set)
 *
 * Metal units. The core's headers stay out of this file (pimpl), so LAMMPS code
 * that includes it needs nothing but LAMMPS. Built as a plugin by
 * `ace-lin lammps-plugin build` (ace_lin/lammps/plugin.py).
 */
#ifdef PAIR_CLASS
// clang-format off
PairStyle(acelin,PairACELin);
// clang-format on
#else

#ifndef LMP_PAIR_ACELIN_H
#define LMP_PAIR_ACELIN_H

#include "pair.h"

#include <memory>

struct acelin_error;    // csrc/acelin.h

namespace LAMMPS_NS {

class PairACELin : public Pair {
 public:
  PairACELin(class LAMMPS *);
  ~PairACELin() override;

  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;
  int pack_reverse_comm(int, int, double *) override;
  void unpack_reverse_comm(int, int *, double *) override;
  double memory_usage() override;
  void *extract(const char *, int &) override;            // "gamma_flag" (for fix pair)
  void *extract_peratom(const char *, int &) override;    // "gamma": grade per local atom

 protected:
  struct Impl;    // model, type map and per-step buffers (pair_acelin.cpp)
  std::unique_ptr<Impl> impl;

  void allocate();
  void require_metal_units();
  void build_bonds();
  void scatter(int nlocal);
  void scatter_centres(int nlocal, int k0, int k1, double *own, double &e, double *v);
  void scatter_threads(int nlocal, int nt);
  void fold_ghost_buffer(int nlocal);
  void compute_grade(int nlocal);
  void core_error(const acelin_error &err);    // error->one naming LAMMPS atom IDs
};

}    // namespace LAMMPS_NS

#endif
#endif
