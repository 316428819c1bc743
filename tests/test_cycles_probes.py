"""LDA probes and subspaces (scikit-learn conventions)."""

import numpy as np
import pytest

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


def _correlated_classes(seed=0, n=4000, delta=0.1, mu=6.0):
    """Two classes whose means differ by ``mu`` along dimension 0; the noise of
    dimension 1 copies that of dimension 0 up to ``delta``, so the best
    discriminant reads x0 - x1 (noise cancels), nearly orthogonal to the mean
    difference. Known answer: span(S_w W) is dimension 0 (the mean difference),
    so the consistent ID subspace is span(e1, e2), where both classes have the
    same mean."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    noise = rng.normal(size=(n, 3))
    x = np.stack([noise[:, 0], noise[:, 0] + delta * noise[:, 1], noise[:, 2]], 1)
    x[:, 0] += mu * y
    return x, y


def _mean_gap(z, y):
    return float(np.linalg.norm(z[y == 1].mean(0) - z[y == 0].mean(0)))


def test_within_class_covariance_matches_the_construction():
    x, y = _correlated_classes(n=40_000)
    cov = probes.LDAProbe().fit(x, y).within_covariance_
    expected = np.array([[1, 1, 0], [1, 1.01, 0], [0, 0, 1]])  # delta^2 = 0.01
    assert np.allclose(cov, expected, atol=0.03)


def test_signal_span_is_the_mean_difference_not_the_lda_direction():
    x, y = _correlated_classes()
    probe = probes.LDAProbe().fit(x, y)
    assert abs(probe.signal_span(1)[0, 0]) > 0.999  # e0: where the means differ
    w = probe.subspace(1)[:, 0]  # along (1, -1, 0) up to delta: x0 - x1
    assert abs(w[0] + w[1]) < 0.02 and abs(abs(w[0]) - 2**-0.5) < 0.01


def test_consistent_id_subspace_removes_the_class_the_euclidean_one_does_not():
    x, y = _correlated_classes()
    n_test = 1000
    probe = probes.LDAProbe().fit(x[:-n_test], y[:-n_test])
    assert probes.holdout_accuracy(x, y, n_test) > 0.99
    lda = probe.id_subspace(1)  # geometry="lda" is the default
    euclid = probe.id_subspace(1, geometry="euclidean")
    for q in (lda, euclid):  # both are orthonormal 2-dimensional complements
        assert q.shape == (3, 2) and np.allclose(q.T @ q, np.eye(2))
    assert np.allclose(probe.signal_span(1).T @ lda, 0, atol=1e-12)
    assert np.allclose(probe.subspace(1).T @ euclid, 0, atol=1e-12)
    # consistent: class means coincide (the gap would be 6 in x), probe at chance
    assert _mean_gap(x @ lda, y) < 0.15
    assert probes.holdout_accuracy(x @ lda, y, n_test) < 0.56
    # Euclidean: the mean difference keeps its component along (1, 1, 0)
    assert _mean_gap(x @ euclid, y) == pytest.approx(6 / 2**0.5, rel=0.05)
    assert probes.holdout_accuracy(x @ euclid, y, n_test) > 0.88


def test_id_subspace_refuses_an_unknown_geometry():
    x, y = _blobs()
    with pytest.raises(ValueError, match="options are"):
        probes.LDAProbe().fit(x, y).id_subspace(1, geometry="whitened")
