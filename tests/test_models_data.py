"""Architectures, initialisation, datasets, exact manifold distances and the FFT prior."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import small_config
from ignbench.data import images, toy
from ignbench.methods.models import MLP, DCGANAutoencoder, DenseConv2d, DenseConvTranspose2d, init_weights
from ignbench.methods.noise import Prior


@pytest.mark.parametrize("channels,size,convs", [(1, 28, 3), (1, 32, 4), (3, 64, 5)])
def test_dcgan_autoencoder_shapes_and_layers(channels, size, convs):
    model = DCGANAutoencoder(channels, size)
    x = torch.rand(2, channels, size, size) * 2 - 1
    assert model.encoder(x).shape == (2, 512, 1, 1)
    y = model(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    enc_convs = [m for m in model.encoder if isinstance(m, torch.nn.Conv2d)]
    assert len(enc_convs) == convs
    if size == 64:  # IGN Appendix C, Table 1 exactly
        assert [m.out_channels for m in enc_convs] == [64, 128, 256, 512, 512]
        assert [m.stride[0] for m in enc_convs] == [2, 2, 2, 2, 1]


@pytest.mark.parametrize("dense_cls,conv_cls,in_shape", [
    (DenseConv2d, torch.nn.Conv2d, (5, 6, 4, 4)),               # a 4x4 kernel on a 4x4 input: output 1x1
    (DenseConvTranspose2d, torch.nn.ConvTranspose2d, (5, 6, 1, 1)),  # a 1x1 input: output the kernel's 4x4
])
def test_dense_layers_are_their_convolutions(dense_cls, conv_cls, in_shape):
    """In float64, the matrix-product forms give nn.Conv2d's / nn.ConvTranspose2d's values and gradients (input,
    weight, bias) to 1e-12, with the same parameters and state dict."""
    torch.manual_seed(0)
    conv = conv_cls(6, 7, 4, 1, 0).double()
    dense = dense_cls(6, 7, 4, 1, 0).double()
    dense.load_state_dict(conv.state_dict())
    assert list(dense.state_dict()) == list(conv.state_dict())
    x = torch.randn(in_shape, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn_like(conv(x))
    grads = []
    for layer in (conv, dense):
        out = layer(x)
        grads.append((out, *torch.autograd.grad(out, (x, layer.weight, layer.bias), upstream)))
    for expected, got in zip(*grads, strict=True):
        assert got.shape == expected.shape
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_mlp_and_initialisation():
    model = MLP(2)
    assert [m.out_features for m in model.net if isinstance(m, torch.nn.Linear)] == [512, 512, 512, 2]
    init_weights(model)
    weights = torch.cat([m.weight.flatten() for m in model.net if isinstance(m, torch.nn.Linear)])
    assert abs(weights.std().item() - 0.02) < 0.001 and abs(weights.mean().item()) < 0.001
    assert all(float(m.bias.detach().abs().max()) == 0 for m in model.net if isinstance(m, torch.nn.Linear))


def test_mnist5k_split_is_fixed_and_balanced():
    train_x, train_y, test_x, test_y = images.load_labelled("mnist-5k", 32, None)
    assert train_x.shape == (4000, 1, 32, 32) and test_x.shape == (1000, 1, 32, 32)
    assert torch.bincount(train_y).tolist() == [400] * 10 and torch.bincount(test_y).tolist() == [100] * 10
    assert train_x.min() == -1 and train_x.max() == 1


def test_moons_distance_is_exact():
    d = toy.get("2moons")
    on_manifold = d.sample(500, toy.generator(0))
    assert d.manifold_distance(on_manifold).max() < 1e-5
    # (0, 0) before scaling is one radius from the upper arc but |sqrt(1.25) - 1| from the lower one
    # (centre (1, 0.5)), and lies below that centre: the radial distance counts, x 2 after scaling
    centre = torch.tensor([[-1.0, -0.2]])
    assert d.manifold_distance(centre).item() == pytest.approx(2 * (math.sqrt(1.25) - 1))
    far = torch.tensor([[-1.0, 5.8]])  # straight above the upper arc's top (0, 1) -> (-1, 1.8)
    assert d.manifold_distance(far).item() == pytest.approx(4.0)


def test_mixture_distance_and_sampling():
    grids = toy.get("grids")
    assert len(grids.centers) == 25
    assert grids.manifold_distance(torch.tensor([[1.0, 1.0]])).item() == pytest.approx(math.sqrt(2))
    eight = toy.get("8gaussians")
    radii = eight.centers.norm(dim=1)
    assert torch.allclose(radii, torch.full((8,), 4 / math.sqrt(2)))
    samples = toy.get("trimodal").sample(3000, toy.generator(1))
    assert samples.shape == (3000, 1) and abs(samples.mean().item()) < 0.2


def test_fft_prior_matches_training_statistics():
    train, _ = images.load_images("mnist-5k", 32, None)
    prior = Prior.fit("fft", train)
    z = prior.sample(4000, torch.Generator().manual_seed(0))
    assert z.shape == (4000, 1, 32, 32)
    assert torch.allclose(z.mean(0), train.mean(0), atol=0.08)  # mean image is reproduced exactly in expectation
    restored = Prior.from_state_dict(prior.state_dict())
    assert torch.equal(restored.sample(3, torch.Generator().manual_seed(1)),
                       prior.sample(3, torch.Generator().manual_seed(1)))


def test_fft_prior_refuses_toy_data():
    from ignbench.core.errors import UserError

    with pytest.raises(UserError, match="prior 'fft' needs an image dataset"):
        small_config(dataset="2moons", prior="fft").validate()
