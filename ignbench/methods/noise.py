"""Source distributions p_Z for z.

- `gaussian`: z ~ N(0, I) with the data's shape.
- `fft` (IGN §2.3): per-frequency mean and variance of the real and imaginary parts of the 2D FFT of the
  *whole training set*; sample each part independently, inverse FFT, keep `.real`. Hermitian symmetry is not
  enforced when sampling: taking `.real` is the same as projecting the sampled spectrum onto its Hermitian part,
  which keeps the mean image exact and halves the variance of every frequency whose conjugate partner is a
  different bin. The statistics are stored in the run's checkpoint.
"""

from __future__ import annotations

import torch


class Prior:
    def __init__(self, kind: str, shape: tuple[int, ...], stats: dict[str, torch.Tensor] | None = None):
        self.kind = kind
        self.shape = tuple(shape)
        self.stats = stats

    @classmethod
    def fit(cls, kind: str, train: torch.Tensor) -> Prior:
        stats = fft_statistics(train) if kind == "fft" else None
        return cls(kind, tuple(train.shape[1:]), stats)

    def sample(self, n: int, g: torch.Generator) -> torch.Tensor:
        """n draws, made with (and on the device of) the generator g."""
        if self.kind == "gaussian":
            return torch.randn((n, *self.shape), generator=g, device=g.device)
        s = {k: v.to(g.device) for k, v in self.stats.items()}
        real = s["real_mean"] + s["real_std"] * torch.randn((n, *self.shape), generator=g, device=g.device)
        imag = s["imag_mean"] + s["imag_std"] * torch.randn((n, *self.shape), generator=g, device=g.device)
        return torch.fft.ifft2(torch.complex(real, imag)).real

    def state_dict(self) -> dict:
        return {"kind": self.kind, "shape": list(self.shape), "stats": self.stats}

    @classmethod
    def from_state_dict(cls, state: dict) -> Prior:
        return cls(state["kind"], tuple(state["shape"]), state["stats"])


def fft_statistics(train: torch.Tensor) -> dict[str, torch.Tensor]:
    if train.dim() != 4:
        raise ValueError("the FFT prior needs image data (N, C, H, W)")
    spectrum = torch.fft.fft2(train.double())
    return {
        "real_mean": spectrum.real.mean(0).float(), "real_std": spectrum.real.std(0).float(),
        "imag_mean": spectrum.imag.mean(0).float(), "imag_std": spectrum.imag.std(0).float(),
    }
