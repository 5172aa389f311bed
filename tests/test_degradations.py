"""The four restoration degradations of NAIGN Table 2 (supplement §8), against their definitions."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import scipy.stats
import torch

from conftest import small_config
from ignbench.evaluate import degradations

DEFAULTS = small_config()  # the paper's levels: blur sigma 1, noise sigma 1, 20 % salt and pepper, lines p 0.2


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_blur_matches_scipy_gaussian_filter():
    x = torch.rand(3, 1, 32, 32, generator=_gen()) * 2 - 1
    ours = degradations.blur(x, _gen(), DEFAULTS.blur_sigma)
    # torchvision pads by reflection without repeating the edge (scipy's "mirror"); radius 3 sigma.
    ref = np.stack([scipy.ndimage.gaussian_filter(img[0].double().numpy(), sigma=DEFAULTS.blur_sigma,
                                                  mode="mirror", truncate=3.0) for img in x])
    np.testing.assert_allclose(ours[:, 0].numpy(), ref, atol=1e-6)


def test_gaussian_noise_has_the_stated_sigma_and_stays_in_range():
    x = torch.zeros(64, 1, 32, 32)
    small = degradations.gaussian_noise(x, _gen(), sigma=0.1)  # no clipping at this scale
    assert float(small.std()) == pytest.approx(0.1, rel=0.02) and abs(float(small.mean())) < 0.002
    full = degradations.gaussian_noise(x, _gen(), DEFAULTS.noise_sigma)
    assert full.min() >= -1 and full.max() <= 1
    # sigma 1 clipped to [-1, 1]: E|clip(e)| = 2 (phi(0) - phi(1)) + 2 P(e > 1) for e ~ N(0, 1)
    norm = scipy.stats.norm
    expected = 2 * (norm.pdf(0) - norm.pdf(1)) + 2 * norm.sf(1)
    assert float(full.abs().mean()) == pytest.approx(expected, rel=0.01)


def test_salt_and_pepper_corrupts_a_fifth_half_salt_half_pepper():
    x = torch.zeros(64, 3, 32, 32)
    out = degradations.salt_pepper(x, _gen(), DEFAULTS.salt_pepper_fraction)
    corrupted = out[:, 0] != 0
    assert float(corrupted.float().mean()) == pytest.approx(0.2, abs=0.005)
    assert float((out[:, 0][corrupted] == 1).float().mean()) == pytest.approx(0.5, abs=0.01)
    assert torch.equal(out[:, 0], out[:, 2])  # a pixel is corrupted in all its channels alike
    assert set(out.unique().tolist()) == {-1.0, 0.0, 1.0}


def test_lines_rows_deletes_whole_rows_and_columns():
    x = torch.zeros(256, 1, 32, 32)
    out = degradations.lines_rows(x, _gen(), DEFAULTS.line_prob)
    deleted = out[:, 0] == -1
    rows, cols = deleted.all(dim=2), deleted.all(dim=1)  # fully deleted rows / columns per image
    assert torch.equal(deleted, rows[:, :, None] | cols[:, None, :])  # nothing deleted outside them
    assert float(rows.float().mean()) == pytest.approx(0.2, abs=0.02)
    assert float(deleted.float().mean()) == pytest.approx(1 - 0.8**2, abs=0.02)


@pytest.mark.parametrize("name", sorted(degradations.degradations(DEFAULTS)))
def test_degradations_are_reproducible_from_the_generator(name):
    x = torch.rand(4, 1, 32, 32, generator=_gen(3)) * 2 - 1
    degrade = degradations.degradations(DEFAULTS)[name]
    assert torch.equal(degrade(x, _gen(7)), degrade(x, _gen(7)))


def test_levels_come_from_the_run_config():
    x = torch.zeros(8, 1, 32, 32)
    stronger = degradations.degradations(DEFAULTS.replace(salt_pepper_fraction=0.5))["salt_pepper"](x, _gen())
    assert float((stronger != 0).float().mean()) == pytest.approx(0.5, abs=0.03)
    assert torch.equal(degradations.blur(x + 0.3, _gen(), 0.0), x + 0.3)  # sigma 0: no blur
