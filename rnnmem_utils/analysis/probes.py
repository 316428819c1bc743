"""Linear probes on recurrent states (scikit-learn style).

Verwimp et al. (2018), section 4.2.2: Linear Discriminant Analysis (one
Gaussian per class, shared covariance) trained on the states recorded for the
validation set, the last 10k tokens held out for testing; the "counting
subspace" is spanned by the top LDA directions of the counting probe, the
"ID subspace" is its complement.

Which complement. LDA reads a state ``x`` through ``z = W^T x`` (``W`` the
scalings, ``W^T S_w W = I`` for the within-class covariance ``S_w``): its
directions live in the whitened geometry of ``S_w``. A direction ``v`` is
free of the discriminant signal when ``v^T x`` is uncorrelated within classes
with ``z``, i.e. ``v^T S_w W = 0``: the complement *consistent with LDA* is the
orthogonal complement of span(``S_w W``) (:meth:`LDAProbe.id_subspace`). With
all ``K - 1`` directions kept, span(``S_w W``) is the span of the class-mean
differences, so this complement has every class at the same mean. The
Euclidean complement of span(``W``) (:func:`complement`) keeps the part of the
mean differences that ``W`` does not point along whenever ``S_w`` is not
isotropic, so the classes stay separable there.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis


class LDAProbe(BaseEstimator, ClassifierMixin):
    """LDA on states ``(N, H)``; ``fit`` returns self; learned attributes end in ``_``.

    ``lda_``: the fitted :class:`LinearDiscriminantAnalysis`; ``classes_``;
    ``explained_variance_ratio_`` of the discriminant directions.
    """

    def __init__(self, solver: str = "svd", tol: float = 1e-6):
        self.solver = solver
        self.tol = tol

    def fit(self, X, y):
        X, y = np.asarray(X, dtype=float), np.asarray(y)
        self.lda_ = LinearDiscriminantAnalysis(solver=self.solver, tol=self.tol).fit(
            X, y
        )
        self.classes_ = self.lda_.classes_
        self.explained_variance_ratio_ = self.lda_.explained_variance_ratio_
        self.within_covariance_ = within_class_covariance(X, y)
        return self

    def predict(self, X):
        return self.lda_.predict(X)

    def transform(self, X):
        """Project onto the discriminant directions (Figure 2 uses the first two)."""
        return self.lda_.transform(X)

    def subspace(self, n_dims: int) -> np.ndarray:
        """Orthonormal basis ``(H, n_dims)`` of the top ``n_dims`` LDA directions."""
        q, _ = np.linalg.qr(self.lda_.scalings_[:, :n_dims])
        return q

    def signal_span(self, n_dims: int) -> np.ndarray:
        """Orthonormal basis ``(H, n_dims)`` of span(S_w W): the directions in
        state space along which the top ``n_dims`` discriminants vary (the
        class-mean differences they capture lie here, not along ``W``)."""
        w = self.lda_.scalings_[:, :n_dims]
        q, _ = np.linalg.qr(self.within_covariance_ @ w)
        return q

    def id_subspace(self, n_dims: int, geometry: str = "lda") -> np.ndarray:
        """Orthonormal basis ``(H, H - n_dims)`` of the complement of the top
        ``n_dims`` discriminant directions (Table 1's "ID subspace").

        ``geometry="lda"``: the complement consistent with LDA, orthogonal to
        span(S_w W); projecting on it removes what those discriminants see.
        ``geometry="euclidean"``: orthogonal to span(W) itself, which leaves
        discriminant signal behind when S_w is not isotropic (kept to show it).
        """
        if geometry == "lda":
            return complement(self.signal_span(n_dims))
        if geometry == "euclidean":
            return complement(self.subspace(n_dims))
        raise ValueError(f"geometry={geometry!r}; options are ['euclidean', 'lda']")


def within_class_covariance(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pooled within-class covariance ``(H, H)``: the covariance of each state
    about its own class mean (LDA's shared covariance, up to a scale)."""
    classes, index = np.unique(y, return_inverse=True)
    means = np.stack([X[index == k].mean(0) for k in range(len(classes))])
    centred = X - means[index]
    return centred.T @ centred / len(X)


def complement(basis: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the complement of ``basis``: (H, k) -> (H, H-k)."""
    h, k = basis.shape
    q, _ = np.linalg.qr(np.hstack([basis, np.eye(h)]))
    return q[:, k:h]


def project(X: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Coordinates of states ``X`` (N, H) in an orthonormal ``basis`` (H, k)."""
    return X @ basis


def holdout_accuracy(X, y, n_test: int, probe=None) -> float:
    """Fit on all but the last ``n_test`` rows, return the accuracy on those."""
    probe = LDAProbe() if probe is None else probe
    probe.fit(X[:-n_test], y[:-n_test])
    return float(probe.score(X[-n_test:], y[-n_test:]))
