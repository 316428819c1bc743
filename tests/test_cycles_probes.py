"""LDA probes and subspaces (scikit-learn conventions)."""

import numpy as np

from rnnmem_utils.analysis import probes


def _blobs(seed=0, n=600):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 6))
    x[:, 0] += 4 * y  # the class lives in dimension 0 only
    return x, y


def test_fit_returns_self_and_learns_trailing_underscore_attributes():
    x, y = _blobs()
    probe = probes.LDAProbe()
    assert probe.fit(x, y) is probe
    assert list(probe.classes_) == [0, 1, 2] and probe.score(x, y) > 0.95


def test_subspace_is_orthonormal_and_finds_the_class_direction():
    x, y = _blobs()
    basis = probes.LDAProbe().fit(x, y).subspace(1)
    assert basis.shape == (6, 1) and np.allclose(basis.T @ basis, 1)
    assert abs(basis[0, 0]) > 0.95  # the discriminant direction is dimension 0


def test_complement_is_orthogonal_and_removes_the_class():
    x, y = _blobs()
    basis = probes.LDAProbe().fit(x, y).subspace(1)
    comp = probes.complement(basis)
    assert comp.shape == (6, 5)
    assert np.allclose(comp.T @ comp, np.eye(5)) and np.allclose(basis.T @ comp, 0)
    assert probes.holdout_accuracy(probes.project(x, comp), y, 200) < 0.5
    assert probes.holdout_accuracy(probes.project(x, basis), y, 200) > 0.95
