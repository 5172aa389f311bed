"""Networks f: R^D -> R^D.

- `DCGANAutoencoder` (IGN Appendix C, Table 1 and Fig. 15): the encoder is the DCGAN discriminator without its
  head (4x4 stride-2 convs, LeakyReLU 0.2, BatchNorm after every conv but the first, then a conv to a
  latent_dim x 1 x 1 code with no nonlinearity); the decoder is the DCGAN generator (transposed convs, BatchNorm,
  ReLU, Tanh output). 64x64 uses four stride-2 stages (64-128-256-512, exactly Table 1); 32x32 uses three,
  28x28 two, with the last encoder kernel (and first decoder kernel) equal to the remaining spatial size.
  Those two layers are dense layers in convolution form, and are computed as one matrix product each
  (`DenseConv2d`, `DenseConvTranspose2d`): same parameters, same values, several times faster on CPU.
- `MLP` (NAIGN §4): three hidden layers of 512 units with ReLU, for 1D/2D data.
- `StackedMLP`: E MLPs of equal shape as one module (weights stacked on a leading run dim, batched matmuls), so
  that several runs train in one step; member e's state dict is exactly an MLP state dict.

Both are initialised as in IGN Table 1: conv/linear weights N(0, 0.02), biases 0; BatchNorm scales N(1, 0.02)
(the DCGAN convention; N(0, 0.02) scales would silence every layer).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ignbench.core.config import RunConfig

STAGES = {28: 2, 32: 3, 64: 4}


class DenseConv2d(nn.Conv2d):
    """A stride-1, unpadded convolution whose kernel covers its whole input (output 1x1), computed as the dense
    layer it is. Parameters and state dict are nn.Conv2d's; oneDNN's convolution is several times slower at
    this shape (a 4x4 kernel on a 4x4 input) than the one matrix product it amounts to."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x.flatten(1), self.weight.flatten(1), self.bias)[:, :, None, None]


class DenseConvTranspose2d(nn.ConvTranspose2d):
    """A stride-1, unpadded transposed convolution of a 1x1 input (output: the kernel's size), computed as the
    dense layer it is; parameters and state dict are nn.ConvTranspose2d's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x.flatten(1) @ self.weight.flatten(1)
        return out.view(len(x), self.out_channels, *self.kernel_size) + self.bias[:, None, None]


class DCGANAutoencoder(nn.Module):
    def __init__(self, channels: int = 1, size: int = 32, width: int = 64, latent_dim: int = 512):
        super().__init__()
        n = STAGES[size]
        last_kernel = size // 2**n
        widths = [width * 2**i for i in range(n)]
        enc: list[nn.Module] = [nn.Conv2d(channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2)]
        for w_in, w_out in zip(widths[:-1], widths[1:], strict=True):
            enc += [nn.Conv2d(w_in, w_out, 4, 2, 1), nn.BatchNorm2d(w_out), nn.LeakyReLU(0.2)]
        enc += [DenseConv2d(widths[-1], latent_dim, last_kernel, 1, 0)]
        dec: list[nn.Module] = [DenseConvTranspose2d(latent_dim, widths[-1], last_kernel, 1, 0),
                                nn.BatchNorm2d(widths[-1]), nn.ReLU()]
        for w_in, w_out in zip(widths[::-1][:-1], widths[::-1][1:], strict=True):
            dec += [nn.ConvTranspose2d(w_in, w_out, 4, 2, 1), nn.BatchNorm2d(w_out), nn.ReLU()]
        dec += [nn.ConvTranspose2d(widths[0], channels, 4, 2, 1), nn.Tanh()]
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int = 512, layers: int = 3):
        super().__init__()
        sizes = [dim] + [hidden] * layers
        body: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            body += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*body, nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class StackedLinear(nn.Module):
    """E linear layers applied to (E, batch, in) inputs; weight (E, out, in) and bias (E, out) as nn.Linear's.

    Each member's numbers do not depend on E or on the other members: a batched product whose inner or outer size
    is 1 takes an E-dependent kernel on the CPU (1-D data: the first and last layers), so such a layer is padded to
    size 2 with zeros (x * w + 0 * 0 is x * w exactly; the padded output is dropped, so its weights get no gradient).
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias, out = self.weight, self.bias, self.weight.shape[1]
        if weight.shape[2] == 1:
            x, weight = nn.functional.pad(x, (0, 1)), nn.functional.pad(weight, (0, 1))
        if out == 1:
            weight, bias = nn.functional.pad(weight, (0, 0, 0, 1)), nn.functional.pad(bias, (0, 1))
        return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))[..., :out]


class StackedMLP(nn.Module):
    """E MLPs of one shape as one module: input (E, batch, dim) -> (E, batch, dim)."""

    def __init__(self, members: list[dict[str, torch.Tensor]], template: MLP):
        super().__init__()
        layers: list[nn.Module] = []
        for i, layer in enumerate(template.net):
            if isinstance(layer, nn.Linear):
                weight = torch.stack([m[f"net.{i}.weight"] for m in members])
                bias = torch.stack([m[f"net.{i}.bias"] for m in members])
                layers.append(StackedLinear(weight, bias))
            else:
                layers.append(layer)
        self.net = nn.Sequential(*layers)
        self.size = len(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def member_state(self, e: int) -> dict[str, torch.Tensor]:
        """Member e's weights as an MLP state dict."""
        return {name: value[e].detach().clone() for name, value in self.state_dict().items()}

    def subset(self, members: list[int]) -> StackedMLP:
        """The listed members only (a copy without gradients, for no-grad searches)."""
        sub = StackedMLP.__new__(StackedMLP)
        nn.Module.__init__(sub)
        index = torch.tensor(members, device=next(self.parameters()).device)
        sub.net = nn.Sequential(*[
            StackedLinear(layer.weight.detach().index_select(0, index), layer.bias.detach().index_select(0, index))
            if isinstance(layer, StackedLinear) else layer for layer in self.net])
        sub.size = len(members)
        return sub


def init_weights(module: nn.Module) -> None:
    """IGN Table 1 initialisation (see module docstring)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def build_model(cfg: RunConfig, data_dim: int) -> nn.Module:
    """The run's network, initialised from torch's global generator (seed it first)."""
    if cfg.image:
        model: nn.Module = DCGANAutoencoder(cfg.channels, cfg.image_size, cfg.model_width, cfg.latent_dim)
    else:
        model = MLP(data_dim, cfg.hidden)
    init_weights(model)
    return model
