"""The one Fréchet distance used for FLD and FID.

    FD = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2})

tr((S1 S2)^{1/2}) is computed in float64 as sum(sqrt(eigvals(S1 @ S2))) (the form torch-fidelity uses), which
avoids scipy.linalg.sqrtm. S1 S2 is similar to a PSD matrix, so its eigenvalues are real and >= 0 up to rounding;
an eigenvalue with a large imaginary part means the covariances are broken and raises instead of being dropped.
"""

from __future__ import annotations

import numpy as np

IMAG_TOLERANCE = 1e-3


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of an (N, C) feature array, in float64."""
    feats = np.asarray(features, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise ValueError(f"need an (N>=2, C) feature array, got shape {feats.shape}")
    return feats.mean(axis=0), np.atleast_2d(np.cov(feats, rowvar=False))


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    eig = np.linalg.eigvals(sigma1 @ sigma2).astype(np.complex128)
    roots = np.sqrt(eig)
    scale = max(1.0, float(np.abs(roots).max(initial=0.0)))
    if np.abs(roots.imag).max(initial=0.0) > IMAG_TOLERANCE * scale:
        raise ValueError(f"Fréchet distance: sqrt(S1 S2) has a large imaginary part "
                         f"({np.abs(roots.imag).max():.3g}); covariances are not PSD")
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * roots.real.sum())


def frechet_distance_features(a: np.ndarray, b: np.ndarray) -> float:
    return frechet_distance(*statistics(a), *statistics(b))
