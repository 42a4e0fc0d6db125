"""LinearACEModel: a basis specification, its coefficients and the one-body energies.

E = sum_i [ E0(z_i) + sum_b c_b B_b(i) ] + ZBL core pairs     (eV)
"""
import numpy as np

from ace_lin.basis.spec import BasisSpec


class LinearACEModel:
    """Immutable linear ACE model. coefficients: [spec.n_basis] (eV); e0: {element: eV}."""

    def __init__(self, spec: BasisSpec, coefficients, e0=None, metadata=None):
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
        self._core = None

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
            self._core = CoreModel.from_tables(self.basis, self._c, e0)
        return self._core

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
    return LinearACEModel(spec, doc["coefficients"], e0=doc["e0"], metadata=doc.get("metadata"))
