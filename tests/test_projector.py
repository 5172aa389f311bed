"""IGN's unseen inputs (Appendix C) and latent-space measures, against analytic cases and an independent
computation of the paper's formulas."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms import GaussianBlur

from ignbench.evaluate.latent import arithmetic, interpolation_paths, lerp_paths, path_evenness
from ignbench.evaluate.outputs import ood_names
from ignbench.evaluate.projections import grayscale, ood_inputs, sketch


def test_grayscale_is_the_channel_mean_on_every_channel():
    x = torch.rand(4, 3, 8, 8) * 2 - 1
    g = grayscale(x)
    assert g.shape == x.shape
    for c in range(3):
        assert torch.allclose(g[:, c], x.mean(1))


def test_sketch_follows_the_appendix_formula_with_torchvision_default_sigma():
    """s(x) = g(x+1) / (blur21(g(x+1)) + 1e-10) - 1, with sigma = 0.3 ((21 - 1) / 2 - 1) + 0.8 = 3.5."""
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    gray = (x + 1).mean(1, keepdim=True).repeat(1, 3, 1, 1)
    expected = gray / (GaussianBlur(21, sigma=3.5)(gray) + 1e-10) - 1
    assert torch.allclose(sketch(x, 21), expected, atol=1e-6)


def test_sketch_of_a_flat_image_is_zero_and_of_black_is_minus_one():
    assert torch.allclose(sketch(torch.full((1, 1, 32, 32), 0.3), 21), torch.zeros(1, 1, 32, 32), atol=1e-6)
    assert torch.equal(sketch(torch.full((1, 1, 32, 32), -1.0), 21), torch.full((1, 1, 32, 32), -1.0))


def test_unseen_inputs_by_channel_count_and_noise_level():
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(64, 1, 28, 28)
    inputs = ood_inputs(x, 0.15, 21, g)
    assert tuple(inputs) == ood_names(1) == ("noise", "sketch")  # grayscale is the identity on one channel
    assert inputs["noise"].std().item() == pytest.approx(0.15, rel=0.02)
    assert tuple(ood_inputs(torch.zeros(2, 3, 28, 28), 0.15, 21, g)) == ood_names(3)


def test_linear_paths_end_at_their_ends_and_an_even_path_scores_one():
    a, b = torch.zeros(2, 1, 4, 4), torch.ones(2, 1, 4, 4)
    paths = lerp_paths(a, b, 5)
    assert paths.shape == (2, 5, 1, 4, 4)
    assert torch.equal(paths[:, 0], a) and torch.equal(paths[:, -1], b)
    assert path_evenness(paths) == pytest.approx(1.0)
    jump = torch.tensor([0.0, 0.0, 0.0, 1.0]).view(1, 4, 1)  # all the change in one of three steps
    assert path_evenness(jump) == pytest.approx(3.0)


def test_interpolation_between_codes_decodes_the_encoded_ends():
    identity = lambda t: t  # noqa: E731
    z, x = torch.randn(8, 1, 4, 4), torch.randn(8, 1, 4, 4)
    paths = interpolation_paths(identity, identity, identity, z, x, pairs=3, steps=4)
    assert paths["interp z"].shape == paths["interp x"].shape == (3, 4, 1, 4, 4)
    assert torch.equal(paths["interp x"][:, 0], x[:3]) and torch.equal(paths["interp x"][:, -1], x[3:6])


def test_arithmetic_moves_the_property_and_the_control_does_not():
    """Property: the sign of the value. z in {-1, +1}: z+ - z- + z = z+ exactly, since z- and z share a class
    different from z+'s; the control z' - z- + z = z' has the property half the time."""
    z = torch.tensor([-1.0, 1.0] * 200).view(-1, 1, 1, 1)
    classify = lambda y: (y.flatten(1)[:, 0] > 0).long()  # noqa: E731
    out = arithmetic(lambda t: t, classify, z, triplets=400, seed=0)
    assert out["edited_share"] == 1.0
    assert 0.4 < out["control_share"] < 0.6


def test_arithmetic_on_a_collapsed_model_is_not_a_number():
    out = arithmetic(lambda t: t * 0 + 1, lambda y: (y.flatten(1)[:, 0] > 0).long(), torch.randn(20, 1, 1, 1), 5, 0)
    assert out["edited_share"] != out["edited_share"] and len(out["edited"]) == 0
