"""Linear probes on recurrent states (scikit-learn style).

Verwimp et al. (2018), section 4.2.2: Linear Discriminant Analysis (one
Gaussian per class, shared covariance) trained on the states recorded for the
validation set, the last 10k tokens held out for testing; the "counting
subspace" is spanned by the top LDA directions of the counting probe, the
"ID subspace" is its orthogonal complement.
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
        self.lda_ = LinearDiscriminantAnalysis(solver=self.solver, tol=self.tol).fit(
            X, y
        )
        self.classes_ = self.lda_.classes_
        self.explained_variance_ratio_ = self.lda_.explained_variance_ratio_
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
