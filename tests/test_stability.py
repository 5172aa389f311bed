"""f^k stability (IGN Fig. 16) on maps whose iterates are known in closed form."""

from __future__ import annotations

import pytest
import torch

from ignbench.evaluate.metrics.stability import fk_stability


def test_exactly_idempotent_map_scores_zero():
    a = torch.randn(6, 6, generator=torch.Generator().manual_seed(0))
    q, _ = torch.linalg.qr(a)
    projector = q[:, :3] @ q[:, :3].T  # orthogonal projection: P @ P = P
    z = torch.randn(50, 6, generator=torch.Generator().manual_seed(1))
    stats, _ = fk_stability(lambda y: y @ projector, z, ks=(1, 2, 5, 20))
    for k, values in stats.items():
        assert values["mae_to_fz"] == pytest.approx(0, abs=1e-5), k
        assert values["drift"] == pytest.approx(0, abs=1e-5), k


def test_contraction_matches_closed_form():
    """f(y) = c y: f^k(z) = c^k z, so |f^k(z) - f(z)| = |c^k - c| |z| and the drift is |c^(k+1) - c^k| |z|."""
    c = 0.5
    z = torch.randn(1000, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    stats, images = fk_stability(lambda y: c * y, z, ks=(1, 3, 10))
    mean_abs = float(z.abs().mean())
    for k in (1, 3, 10):
        assert stats[k]["mae_to_fz"] == pytest.approx(abs(c**k - c) * mean_abs, rel=1e-12)
        assert stats[k]["drift"] == pytest.approx(abs(c ** (k + 1) - c**k) * mean_abs, rel=1e-12)
        torch.testing.assert_close(images[k], c**k * z)


def test_expanding_map_grows_with_k():
    stats, _ = fk_stability(lambda y: 1.1 * y, torch.ones(4, 2), ks=(1, 10, 50))
    assert stats[1]["mae_to_fz"] == 0 and stats[10]["mae_to_fz"] < stats[50]["mae_to_fz"]


def test_k_must_be_positive():
    with pytest.raises(ValueError, match="k must be >= 1"):
        fk_stability(lambda y: y, torch.zeros(1, 1), ks=(0, 1))
