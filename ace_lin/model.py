"""LinearACEModel: a basis specification, its coefficients and the one-body energies,
optionally with the extrapolation grade's active set and the fit's posterior.

E = sum_i [ E0(z_i) + sum_b c_b B_b(i) ] + ZBL core pairs     (eV)
"""
import numpy as np

from ace_lin.basis.spec import BasisSpec


class LinearACEModel:
    """Immutable linear ACE model. coefficients: [spec.n_basis] (eV); e0: {element: eV}.

    active_set: None or {element: G [m, r]} (or trust.activeset.ElementActiveSet values):
        the maps of the extrapolation grade (ace_lin/trust/activeset.py); elements left out
        have no grade.
    posterior: None or trust.committee.Posterior of (coefficients, fitted E0s); its mean
        must be these coefficients and E0s (the committee is centred on the model).
    """

    def __init__(self, spec: BasisSpec, coefficients, e0=None, metadata=None, active_set=None,
                 posterior=None):
        if not isinstance(spec, BasisSpec):
            raise TypeError("spec must be an ace_lin.BasisSpec")
        c = np.array(coefficients, dtype=float).reshape(-1)
        if c.size != spec.n_basis:
            raise ValueError(f"coefficients: expected {spec.n_basis} values (spec.n_basis), got {c.size}")
        if not np.all(np.isfinite(c)):
            raise ValueError("coefficients contain NaN or Inf")
        e0 = dict(e0 or {})
        unknown = sorted(set(e0) - set(spec.elements))
        if unknown:
            raise ValueError(f"e0 given for element(s) {unknown} that are not in the spec {list(spec.elements)}")
        self._e0 = {el: float(e0.get(el, 0.0)) for el in spec.elements}
        if not all(np.isfinite(v) for v in self._e0.values()):
            raise ValueError("e0 contains NaN or Inf")
        c.setflags(write=False)
        self._spec = spec
        self._c = c
        self.metadata = dict(metadata or {})
        self._active = self._check_active_set(active_set)
        self._posterior = self._check_posterior(posterior)
        self._core = None

    def _check_active_set(self, active_set):
        if active_set is None:
            return None
        from ace_lin.trust.grade import check_maps, element_columns, maps_of

        if not hasattr(active_set, "items") or not active_set:
            raise ValueError("active_set must be None or a non-empty {element: map} mapping")
        maps = check_maps(maps_of(active_set), element_columns(self.basis, self._spec.elements))
        for G in maps.values():
            G.setflags(write=False)
        return {el: maps[el] for el in self._spec.elements if el in maps}

    def _check_posterior(self, posterior):
        if posterior is None:
            return None
        from ace_lin.trust.committee import Posterior

        if not isinstance(posterior, Posterior):
            raise TypeError("posterior must be None or an ace_lin.trust.committee.Posterior")
        nb = self._spec.n_basis
        if posterior.n_basis != nb:
            raise ValueError(f"posterior has {posterior.n_basis} basis columns, the model {nb}")
        unknown = sorted(set(posterior.e0_elements) - set(self._spec.elements))
        if unknown:
            raise ValueError(f"posterior E0 column(s) for {unknown}: not elements of the model")
        mine = np.r_[self._c, [self._e0[el] for el in posterior.e0_elements]]
        scale = max(float(np.abs(mine).max(initial=0.0)), 1.0)
        if not np.allclose(posterior.mean, mine, rtol=1e-12, atol=1e-12 * scale):
            raise ValueError("posterior mean differs from the model's coefficients and fitted "
                             "E0s (a posterior belongs to the coefficients it was fitted with)")
        return posterior

    @property
    def active_set(self):
        """None or {element: G [m, r]} (read-only arrays), the grade's maps."""
        return None if self._active is None else dict(self._active)

    @property
    def has_active_set(self) -> bool:
        return self._active is not None

    @property
    def posterior(self):
        """None or the fit's Posterior (trust/committee.py)."""
        return self._posterior

    def with_trust(self, active_set=False, posterior=False) -> "LinearACEModel":
        """A copy with the active set and/or posterior replaced (False: keep the current)."""
        return LinearACEModel(self._spec, self._c, e0=self._e0, metadata=self.metadata,
                              active_set=self._active if active_set is False else active_set,
                              posterior=self._posterior if posterior is False else posterior)

    @property
    def spec(self) -> BasisSpec:
        return self._spec

    @property
    def coefficients(self) -> np.ndarray:
        return self._c

    @property
    def e0(self) -> dict:
        return dict(self._e0)

    @property
    def elements(self):
        return self._spec.elements

    @property
    def basis(self):
        return self._spec.basis()

    @property
    def core(self):
        """The C model (built on first use, shared by all calculators of this model)."""
        if self._core is None:
            from ace_lin._core import CoreModel

            e0 = np.array([self._e0[el] for el in self._spec.elements])
            if self._active is None:
                self._core = CoreModel.from_tables(self.basis, self._c, e0)
            else:
                idx = {el: k for k, el in enumerate(self._spec.elements)}
                maps = {idx[el]: np.ascontiguousarray(G) for el, G in self._active.items()}
                self._core = CoreModel.from_tables(self.basis, self._c, e0, active_set=maps)
        return self._core

    def grade(self, atoms, n_threads: int = 0, neighbours=None) -> np.ndarray:
        """Extrapolation grade [n_atoms] of a structure (C core); > 1: extrapolation.
        neighbours: as for evaluate.compute_properties (a calculator's reused list)."""
        from ace_lin.trust.grade import NoActiveSetError

        if self._active is None:
            raise NoActiveSetError("this model has no active set, so no extrapolation grade: "
                                   "build one with `ace-lin activeset MODEL TRAIN_DATA`")
        present = set(atoms.get_chemical_symbols())
        if present - set(self._spec.elements):
            from ace_lin.evaluate import species_indices

            species_indices(atoms, self._spec.elements)  # raises: element not in the model
        missing = sorted(present - set(self._active))
        if missing:
            raise NoActiveSetError(f"no active set for element(s) {missing} (the training data "
                                   f"had no environment of it): no extrapolation grade")
        from ace_lin.evaluate import compute_grade

        return compute_grade(self.core, self._spec.elements, atoms, n_threads, neighbours)

    @property
    def cutoff(self) -> float:
        return self._spec.max_reach

    def to_document(self) -> dict:
        from ace_lin import __version__

        t = self.basis
        return {
            "ace_lin_version": __version__,
            "elements": list(self._spec.elements),
            "e0": self.e0,
            "spec": self._spec.to_dict(),
            "tables": t.to_dict(),
            "coefficients": self._c,
            "active_set": None if self._active is None else {
                "kind": "maxvol",
                "per_element": {el: {"n_active": int(G.shape[1]), "map": G.reshape(-1)}
                                for el, G in self._active.items()}},
            "posterior": None if self._posterior is None else self._posterior.to_document(),
            "metadata": dict(self.metadata, tables_hash=t.tables_hash),
        }

    def save(self, path, metadata=None):
        """Write the model file atomically (JSON, versioned, sha256 checksum)."""
        from ace_lin.io.model_file import write_model_file

        doc = self.to_document()
        if metadata:
            doc["metadata"].update(metadata)
        write_model_file(path, doc)

    def __repr__(self):
        return (f"LinearACEModel(elements={list(self.elements)}, n_basis={self._c.size}, "
                f"order={self._spec.order}, r_cut={self.cutoff} A)")


def load_model(path) -> LinearACEModel:
    """Read a model file; the basis is rebuilt from the stored spec and must reproduce
    the stored tables exactly (otherwise the file came from an incompatible generator)."""
    from ace_lin.io.model_file import ModelFileError, read_model_file

    doc = read_model_file(path)
    try:
        spec = BasisSpec.from_dict(doc["spec"])
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: invalid basis spec: {exc}") from None
    stored = doc["tables"]
    mine = spec.basis().to_dict()
    for key, value in mine.items():
        a, b = np.asarray(stored[key]), np.asarray(value)
        same = a.shape == b.shape and (np.allclose(a, b, rtol=0, atol=1e-12) if key == "term_coupling"
                                       else np.array_equal(a, b))
        if not same:
            raise ModelFileError(f"{path}: table '{key}' differs from the basis this ace_lin "
                                 "generates for the stored spec (incompatible generator or edited file)")
    posterior = _posterior_of(doc, path)
    try:
        return LinearACEModel(spec, doc["coefficients"], e0=doc["e0"],
                              metadata=doc.get("metadata"), active_set=_active_set_of(doc, spec),
                              posterior=posterior)
    except ValueError as exc:  # active set or posterior inconsistent with the model
        raise ModelFileError(f"{path}: {exc}") from None


def _active_set_of(doc, spec):
    aset = doc["active_set"]
    if aset is None:
        return None
    sp = np.asarray(doc["tables"]["basis_species"])
    out = {}
    for el, entry in aset["per_element"].items():
        m = int(np.sum(sp == spec.elements.index(el)))
        out[el] = np.asarray(entry["map"]).reshape(m, entry["n_active"])
    return out or None


def _posterior_of(doc, path):
    from ace_lin.io.model_file import ModelFileError
    from ace_lin.trust.committee import Posterior

    post = doc["posterior"]
    if post is None:
        return None
    try:
        return Posterior.from_document(post)
    except ValueError as exc:
        raise ModelFileError(f"{path}: posterior: {exc}") from None
