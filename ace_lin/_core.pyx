# cython: language_level=3
"""Thin Cython layer over the C core (csrc/acelin.h): dtype and shape checks, GIL release,
status codes -> Python exceptions. No physics here."""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport int64_t
from libc.stdlib cimport malloc, free

cnp.import_array()

cdef extern from "acelin.h":
    ctypedef enum acelin_status:
        ACELIN_OK
        ACELIN_ERR_ALLOC
        ACELIN_ERR_INVALID
        ACELIN_ERR_SPECIES
        ACELIN_ERR_IO
        ACELIN_ERR_FORMAT
        ACELIN_ERR_CHECKSUM
        ACELIN_ERR_VERSION
        ACELIN_ERR_NONFINITE
        ACELIN_ERR_NO_ACTIVE_SET
    int ACELIN_API_VERSION
    int ACELIN_FORMAT_VERSION
    int ACELIN_NU_MAX
    ctypedef struct acelin_tables:
        int n_species
        const char *const *elements
        const int *atomic_numbers
        const double *e0
        const double *r_cut
        const double *r_in
        const double *r_core
        const double *r_scale
        int transform_power
        int n_radial
        int lmax
        int n_nl
        const int *nl_n
        const int *nl_l
        int n_basis
        const int *basis_species
        const int *basis_nu
        const int64_t *basis_term_start
        int64_t n_terms
        const double *term_coupling
        const int *term_factors
        const double *coefficients
        int n_radial_long
        const double *r_cut_long
        const double *r_scale_long
        const int *active_n
        const double *const *active_map
        const double *radial_weights
    ctypedef struct acelin_model:
        pass
    ctypedef struct acelin_error:
        acelin_status status
        int atom
        int64_t bond
        char message[256]
    acelin_status acelin_model_create(const acelin_tables *tables, acelin_model **out, char *err, size_t errlen) nogil
    acelin_status acelin_model_load(const char *path, acelin_model **out, char *err, size_t errlen) nogil
    void acelin_model_free(acelin_model *model) nogil
    int acelin_model_n_species(const acelin_model *model)
    int acelin_model_n_basis(const acelin_model *model)
    const char *acelin_model_element(const acelin_model *model, int species)
    double acelin_model_cutoff(const acelin_model *model, int centre, int neighbour)
    double acelin_model_max_cutoff(const acelin_model *model)
    acelin_status acelin_compute(const acelin_model *model, int n_atoms, const int *species,
                                 const int64_t *neigh_start, const int *neigh_species,
                                 const double *dr, double *energy, double *dE_dr,
                                 int n_threads, char *err, size_t errlen) nogil
    acelin_status acelin_evaluate(const acelin_model *model, int n_atoms, const int *species,
                                  const int64_t *neigh_start, const int *neigh_atom,
                                  const int *neigh_species, const double *dr, double *energy_total,
                                  double *energies, double *forces, double *virial, double *dE_dr,
                                  int n_threads, char *err, size_t errlen) nogil
    acelin_status acelin_evaluate_reference(const acelin_model *model, int n_atoms, const int *species,
                                            const int64_t *neigh_start, const int *neigh_atom,
                                            const int *neigh_species, const double *dr,
                                            double *energy_total, double *energies, double *forces,
                                            double *virial, double *dE_dr, char *err, size_t errlen) nogil
    acelin_status acelin_design(const acelin_model *model, int n_atoms, const int *species,
                                const int64_t *neigh_start, const int *neigh_atom,
                                const int *neigh_species, const double *dr,
                                double *energy_row, double *force_rows, double *virial_rows,
                                int n_threads, char *err, size_t errlen) nogil
    int acelin_model_has_grade(const acelin_model *model, int species)
    int acelin_model_atomic_base_size(const acelin_model *model)
    int acelin_model_kernel_width(const acelin_model *model)
    acelin_status acelin_atomic_base_ex(const acelin_model *model, int n_atoms, const int *species,
                                        const int64_t *neigh_start, const int *neigh_species,
                                        const double *dr, double *a, int n_threads, acelin_error *error) nogil
    acelin_status acelin_basis_vectors_ex(const acelin_model *model, int n_atoms, const int *species,
                                          const int64_t *neigh_start, const int *neigh_species,
                                          const double *dr, double *b, int n_threads,
                                          acelin_error *error) nogil
    acelin_status acelin_grade_ex(const acelin_model *model, int n_atoms, const int *species,
                                  const int64_t *neigh_start, const int *neigh_species,
                                  const double *dr, double *gamma, int n_threads,
                                  acelin_error *error) nogil
    acelin_status acelin_compute_ex(const acelin_model *model, int n_atoms, const int *species,
                                    const int64_t *neigh_start, const int *neigh_species,
                                    const double *dr, double *energy, double *dE_dr,
                                    int n_threads, acelin_error *error) nogil
    acelin_status acelin_evaluate_ex(const acelin_model *model, int n_atoms, const int *species,
                                     const int64_t *neigh_start, const int *neigh_atom,
                                     const int *neigh_species, const double *dr, double *energy_total,
                                     double *energies, double *forces, double *virial, double *dE_dr,
                                     int n_threads, acelin_error *error) nogil
    acelin_status acelin_evaluate_reference_ex(const acelin_model *model, int n_atoms, const int *species,
                                               const int64_t *neigh_start, const int *neigh_atom,
                                               const int *neigh_species, const double *dr,
                                               double *energy_total, double *energies, double *forces,
                                               double *virial, double *dE_dr, acelin_error *error) nogil
    acelin_status acelin_design_ex(const acelin_model *model, int n_atoms, const int *species,
                                   const int64_t *neigh_start, const int *neigh_atom,
                                   const int *neigh_species, const double *dr,
                                   double *energy_row, double *force_rows, double *virial_rows,
                                   int n_threads, acelin_error *error) nogil

API_VERSION = ACELIN_API_VERSION
FORMAT_VERSION = ACELIN_FORMAT_VERSION
NU_MAX = ACELIN_NU_MAX


class CoreFileError(ValueError):
    """The C reader refused a model file (format, checksum, version, or tables that
    acelin_model_create finds inconsistent)."""


class CoreComputeError(ValueError):
    """The core refused a block of atoms. atom: index of the failing centre atom in the
    call's species array (-1 when no single atom is at fault); bond: index of the failing
    bond in neigh_species / dr (-1 when no single bond is); status: the acelin_status code."""

    def __init__(self, message, status, atom, bond):
        super().__init__(message)
        self.status = status
        self.atom = atom
        self.bond = bond


class NoActiveSetError(CoreComputeError):
    """A grade was asked for an atom whose element has no active set in the model."""


cdef raise_error(acelin_error *e):
    if e.status == ACELIN_ERR_ALLOC:
        raise MemoryError(e.message.decode("utf-8", "replace"))
    text = e.message.decode("utf-8", "replace")
    if e.status == ACELIN_ERR_NO_ACTIVE_SET:
        raise NoActiveSetError(text, int(e.status), e.atom, e.bond)
    raise CoreComputeError(text, int(e.status), e.atom, e.bond)


cdef raise_status(acelin_status st, const char *msg):
    text = msg.decode("utf-8", "replace")
    if st == ACELIN_ERR_ALLOC:
        raise MemoryError(text)
    if st == ACELIN_ERR_IO:
        raise OSError(text)
    if st in (ACELIN_ERR_FORMAT, ACELIN_ERR_CHECKSUM, ACELIN_ERR_VERSION):
        raise CoreFileError(text)
    raise ValueError(text)


def _i32(a, n=None, name="array"):
    a = np.ascontiguousarray(a, dtype=np.int32)
    if n is not None and a.size != n:
        raise ValueError(f"{name}: expected {n} entries, got {a.size}")
    return a


def _i64(a, n=None, name="array"):
    a = np.ascontiguousarray(a, dtype=np.int64)
    if n is not None and a.size != n:
        raise ValueError(f"{name}: expected {n} entries, got {a.size}")
    return a


def _f64(a, n=None, name="array"):
    a = np.ascontiguousarray(a, dtype=np.float64)
    if n is not None and a.size != n:
        raise ValueError(f"{name}: expected {n} entries, got {a.size}")
    return a


def _csr(species, neigh_start, neigh_atom, neigh_species, dr):
    """Checked, contiguous copies of the CSR neighbour arrays (neigh_atom may be None)."""
    sp = _i32(species)
    n = sp.size
    st_ = _i64(neigh_start, n + 1, "neigh_start")
    nb = int(st_[n])
    na_ = _i32(neigh_atom, nb, "neigh_atom") if neigh_atom is not None else np.zeros(0, np.int32)
    ns_ = _i32(neigh_species, nb, "neigh_species")
    d = _f64(dr, 3 * nb, "dr").reshape(-1)
    return sp, st_, na_, ns_, d, n, nb


def _active_maps(active_set, int ns, species):
    """[G or None per species], each G a C-contiguous float64 (m_s, r_s) array."""
    maps = [None] * ns
    if active_set is None:
        return maps
    counts = np.bincount(np.asarray(species, dtype=np.int64), minlength=ns)
    for s, G in dict(active_set).items():
        if not 0 <= int(s) < ns:
            raise ValueError(f"active_set: species index {s} outside 0..{ns - 1}")
        G = np.ascontiguousarray(G, dtype=np.float64)
        if G.ndim != 2 or G.shape[0] != counts[int(s)] or G.shape[1] < 1:
            raise ValueError(f"active_set[{s}]: expected an (m, r) array with m = {counts[int(s)]} "
                             f"invariants of that species and r >= 1, got shape {G.shape}")
        if not np.all(np.isfinite(G)):
            raise ValueError(f"active_set[{s}] contains NaN or Inf")
        maps[int(s)] = G
    return maps


ctypedef acelin_status (*per_atom_fn)(const acelin_model *, int, const int *, const int64_t *,
                                      const int *, const double *, double *, int,
                                      acelin_error *) noexcept nogil


cdef class CoreModel:
    """An immutable C model (acelin_model). Thread-safe; share it freely."""
    cdef acelin_model *ptr

    def __dealloc__(self):
        if self.ptr != NULL:
            acelin_model_free(self.ptr)
            self.ptr = NULL

    @staticmethod
    def from_tables(tables, coefficients, e0, active_set=None):
        """tables: ace_lin.basis.tables.BasisTables; coefficients [n_basis] eV; e0 [ns] eV;
        active_set: None or {species index: G} with G an (m, r) array, m = number of
        invariants centred on that species (the extrapolation grade's map)."""
        cdef CoreModel self = CoreModel.__new__(CoreModel)
        cdef acelin_tables t
        cdef char err[512]
        cdef acelin_status st
        ns = len(tables.elements)
        nb = tables.n_basis
        names = [e.encode() for e in tables.elements]
        cdef const char **el = <const char **>malloc(ns * sizeof(char *))
        if el == NULL:
            raise MemoryError()
        keep = dict(
            Z=_i32(tables.atomic_numbers, ns, "atomic_numbers"), e0=_f64(e0, ns, "e0"),
            rc=_f64(tables.r_cut, ns * ns, "r_cut"), ri=_f64(tables.r_in, ns * ns, "r_in"),
            rco=_f64(tables.r_core, ns * ns, "r_core"), rs=_f64(tables.r_scale, ns * ns, "r_scale"),
            rcl=_f64(tables.r_cut_long, ns * ns, "r_cut_long"),
            rsl=_f64(tables.r_scale_long, ns * ns, "r_scale_long"),
            nln=_i32(tables.nl_n), nll=_i32(tables.nl_l),
            sp=_i32(tables.species, nb, "species"), nu=_i32(tables.nu, nb, "nu"),
            ts=_i64(tables.term_start, nb + 1, "term_start"),
            tc=_f64(tables.term_coupling), tf=_i32(tables.term_factors).reshape(-1),
            c=_f64(coefficients, nb, "coefficients"))
        rw = getattr(tables, "radial_weights", None)
        if rw is not None:
            keep["rw"] = _f64(rw, ns * ns * len(keep["nln"]) * (tables.n_radial + tables.n_radial_long),
                              "radial_weights").reshape(-1)
        if keep["tf"].size != keep["tc"].size * ACELIN_NU_MAX:
            free(el)
            raise ValueError("term_factors must have n_terms * NU_MAX entries")
        try:
            maps = _active_maps(active_set, ns, keep["sp"])
        except ValueError:
            free(el)
            raise
        cdef const double **amap = <const double **>malloc(ns * sizeof(double *))
        if amap == NULL:
            free(el)
            raise MemoryError()
        cdef int[::1] an = np.array([0 if g is None else g.shape[1] for g in maps], dtype=np.int32)
        cdef const double[:, ::1] gv
        for k in range(ns):
            amap[k] = NULL
            if maps[k] is not None and maps[k].size:
                gv = maps[k]
                amap[k] = &gv[0, 0]
        if not np.all(np.isfinite(keep["c"])):
            free(el)
            raise ValueError("coefficients contain NaN or Inf")
        for k in range(ns):
            el[k] = names[k]
        cdef const int[::1] Z = keep["Z"], nln = keep["nln"], nll = keep["nll"], sp = keep["sp"], nu = keep["nu"], tf = keep["tf"]
        cdef const double[::1] e0v = keep["e0"], rc = keep["rc"], ri = keep["ri"], rco = keep["rco"], rs = keep["rs"], tc = keep["tc"], c = keep["c"]
        cdef const double[::1] rcl = keep["rcl"], rsl = keep["rsl"]
        cdef const int64_t[::1] ts = keep["ts"]
        cdef const double[::1] rwv
        t.radial_weights = NULL
        if rw is not None and keep["rw"].size:
            rwv = keep["rw"]
            t.radial_weights = &rwv[0]
        t.n_species = ns
        t.elements = el
        t.atomic_numbers = &Z[0]
        t.e0 = &e0v[0]
        t.r_cut = &rc[0]
        t.r_in = &ri[0]
        t.r_core = &rco[0]
        t.r_scale = &rs[0]
        t.transform_power = tables.transform_power
        t.n_radial = tables.n_radial
        t.lmax = tables.lmax
        t.n_nl = nln.shape[0]
        t.nl_n = &nln[0] if nln.shape[0] else NULL
        t.nl_l = &nll[0] if nll.shape[0] else NULL
        t.n_basis = nb
        t.basis_species = &sp[0] if nb else NULL
        t.basis_nu = &nu[0] if nb else NULL
        t.basis_term_start = &ts[0]
        t.n_terms = tc.shape[0]
        t.term_coupling = &tc[0] if tc.shape[0] else NULL
        t.term_factors = &tf[0] if tf.shape[0] else NULL
        t.coefficients = &c[0] if nb else NULL
        t.n_radial_long = tables.n_radial_long
        t.r_cut_long = &rcl[0]
        t.r_scale_long = &rsl[0]
        t.active_n = &an[0] if active_set is not None else NULL
        t.active_map = amap
        with nogil:
            st = acelin_model_create(&t, &self.ptr, err, sizeof(err))
        free(el)
        free(amap)
        if st != ACELIN_OK:
            raise_status(st, err)
        return self

    @staticmethod
    def from_file(path):
        """Read a model file with the C reader (the one LAMMPS uses)."""
        cdef CoreModel self = CoreModel.__new__(CoreModel)
        cdef char err[512]
        cdef acelin_status st
        b = str(path).encode()
        cdef const char *cpath = b
        with nogil:
            st = acelin_model_load(cpath, &self.ptr, err, sizeof(err))
        if st not in (ACELIN_OK, ACELIN_ERR_ALLOC, ACELIN_ERR_IO):
            # inconsistent tables (ACELIN_ERR_INVALID, ...) are a fault of the file too
            raise CoreFileError(err.decode("utf-8", "replace"))
        if st != ACELIN_OK:
            raise_status(st, err)
        return self

    @property
    def n_species(self):
        return acelin_model_n_species(self.ptr)

    @property
    def n_basis(self):
        return acelin_model_n_basis(self.ptr)

    @property
    def elements(self):
        return tuple(acelin_model_element(self.ptr, s).decode() for s in range(self.n_species))

    @property
    def max_cutoff(self):
        return acelin_model_max_cutoff(self.ptr)

    def cutoff(self, int centre, int neighbour):
        return acelin_model_cutoff(self.ptr, centre, neighbour)

    def has_grade(self, int species):
        """True if the model has an active set (an extrapolation grade) for this species."""
        return acelin_model_has_grade(self.ptr, species) == 1

    def basis_vectors(self, species, neigh_start, neigh_species, dr, int n_threads=0):
        """Per-atom basis vectors (n, n_basis): the invariants of each atom's species at that
        atom, 0 for other species' invariants; their sum over atoms is the energy design row
        (no E0, no core term)."""
        return self._per_atom(acelin_basis_vectors_ex, self.n_basis, species, neigh_start,
                              neigh_species, dr, n_threads)

    @property
    def kernel_width(self):
        """Doubles per vector of the kernels this model runs (4: AVX2 and FMA)."""
        return acelin_model_kernel_width(self.ptr)

    def atomic_base(self, species, neigh_start, neigh_species, dr, int n_threads=0):
        """The atomic base A of each atom (n, size) in the file layout of the term factors:
        [block * n_nlm + nl_offset[channel] + l + m]; blocks are the neighbour species (one
        block with contracted channels)."""
        return self._per_atom(acelin_atomic_base_ex, acelin_model_atomic_base_size(self.ptr),
                              species, neigh_start, neigh_species, dr, n_threads)

    def grade(self, species, neigh_start, neigh_species, dr, int n_threads=0):
        """Extrapolation grade per atom (n,), max_j |B_i G|_j (dimensionless; <= 1:
        interpolation). NoActiveSetError if an atom's element has no active set."""
        return self._per_atom(acelin_grade_ex, 0, species, neigh_start, neigh_species, dr,
                              n_threads)

    cdef _per_atom(self, per_atom_fn fn, int width, species, neigh_start, neigh_species, dr,
                   int n_threads):
        """One of the per-atom calls: an (n, width) array, or (n,) for width 0."""
        sp, st_, _, ns_, d, n, nb = _csr(species, neigh_start, None, neigh_species, dr)
        out = np.zeros((n, width) if width else n)
        cdef const int[::1] spv = sp, nsv = ns_
        cdef const int64_t[::1] stv = st_
        cdef const double[::1] dv = d
        cdef double[::1] ov = out.reshape(-1)
        cdef acelin_error err
        cdef acelin_status st
        cdef int nat = n
        cdef const int *psp = &spv[0] if n else NULL
        cdef const int *pns = &nsv[0] if nb else NULL
        cdef const double *pd = &dv[0] if nb else NULL
        cdef double *po = &ov[0] if ov.shape[0] else NULL
        with nogil:
            st = fn(self.ptr, nat, psp, &stv[0], pns, pd, po, n_threads, &err)
        if st != ACELIN_OK:
            raise_error(&err)
        return out

    def compute(self, species, neigh_start, neigh_species, dr, int n_threads=0):
        """Per-atom energies (eV) and per-bond dE_i/d dr (eV/A) for CSR neighbours."""
        sp, st_, _, ns_, d, n, nb = _csr(species, neigh_start, None, neigh_species, dr)
        energy = np.zeros(n)
        grad = np.zeros((nb, 3))
        cdef const int[::1] spv = sp, nsv = ns_
        cdef const int64_t[::1] stv = st_
        cdef const double[::1] dv = d
        cdef double[::1] ev = energy
        cdef double[:, ::1] gv = grad
        cdef acelin_error err
        cdef acelin_status st
        cdef int nat = n
        cdef const int *psp = &spv[0] if n else NULL
        cdef const int *pns = &nsv[0] if nb else NULL
        cdef const double *pd = &dv[0] if nb else NULL
        cdef double *pe = &ev[0] if n else NULL
        cdef double *pg = &gv[0, 0] if nb else NULL
        with nogil:
            st = acelin_compute_ex(self.ptr, nat, psp, &stv[0], pns, pd, pe, pg, n_threads, &err)
        if st != ACELIN_OK:
            raise_error(&err)
        return energy, grad

    def evaluate(self, species, neigh_start, neigh_atom, neigh_species, dr, int n_threads=0,
                 reference_only=False):
        """Total energy (eV), per-atom energies (eV), forces [n, 3] (eV/A) and the virial
        dE/d(strain) [6] (eV, Voigt xx yy zz yz xz xy) of one configuration; with
        reference_only, of the ZBL core term alone."""
        sp, st_, na_, ns_, d, n, nb = _csr(species, neigh_start, neigh_atom, neigh_species, dr)
        energies = np.zeros(n)
        forces = np.zeros((n, 3))
        virial = np.zeros(6)
        scratch = np.empty((max(nb, 1), 3))
        cdef const int[::1] spv = sp, nav = na_, nsv = ns_
        cdef const int64_t[::1] stv = st_
        cdef const double[::1] dv = d
        cdef double[::1] ev = energies, vv = virial
        cdef double[:, ::1] fv = forces, gv = scratch
        cdef double etot = 0.0
        cdef acelin_error err
        cdef acelin_status st
        cdef int nat = n
        cdef const int *psp = &spv[0] if n else NULL
        cdef const int *pna = &nav[0] if nb else NULL
        cdef const int *pns = &nsv[0] if nb else NULL
        cdef const double *pd = &dv[0] if nb else NULL
        cdef double *pe = &ev[0] if n else NULL
        cdef double *pf = &fv[0, 0] if n else NULL
        cdef int ref = 1 if reference_only else 0
        with nogil:
            if ref:
                st = acelin_evaluate_reference_ex(self.ptr, nat, psp, &stv[0], pna, pns, pd, &etot, pe,
                                                  pf, &vv[0], &gv[0, 0], &err)
            else:
                st = acelin_evaluate_ex(self.ptr, nat, psp, &stv[0], pna, pns, pd, &etot, pe, pf,
                                        &vv[0], &gv[0, 0], n_threads, &err)
        if st != ACELIN_OK:
            raise_error(&err)
        return etot, energies, forces, virial

    def design(self, species, neigh_start, neigh_atom, neigh_species, dr, int n_threads=0):
        """Rows dE/dc [n_basis], dF/dc [n, 3, n_basis], d(virial)/dc [6, n_basis] (eV)."""
        sp, st_, na_, ns_, d, n, nb = _csr(species, neigh_start, neigh_atom, neigh_species, dr)
        K = self.n_basis
        erow = np.zeros(K)
        frows = np.zeros((n, 3, K))
        vrows = np.zeros((6, K))
        cdef const int[::1] spv = sp, nav = na_, nsv = ns_
        cdef const int64_t[::1] stv = st_
        cdef const double[::1] dv = d
        cdef double[::1] ev = erow, fv = frows.reshape(-1), vv = vrows.reshape(-1)
        cdef acelin_error err
        cdef acelin_status st
        cdef int nat = n
        cdef const int *psp = &spv[0] if n else NULL
        cdef const int *pna = &nav[0] if nb else NULL
        cdef const int *pns = &nsv[0] if nb else NULL
        cdef const double *pd = &dv[0] if nb else NULL
        cdef double *pe = &ev[0] if K else NULL
        cdef double *pf = &fv[0] if fv.shape[0] else NULL
        cdef double *pv = &vv[0] if K else NULL
        with nogil:
            st = acelin_design_ex(self.ptr, nat, psp, &stv[0], pna, pns, pd, pe, pf, pv, n_threads, &err)
        if st != ACELIN_OK:
            raise_error(&err)
        return erow, frows, vrows
