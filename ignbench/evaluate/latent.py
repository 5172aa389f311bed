"""IGN's latent-space manipulations (IGN §4, Fig. 6), as measures.

- Interpolation: linear paths between two noises z_a, z_b (the paper's videos), and between the codes of two real
  test images (encoder outputs, decoded: the autoencoder needs no inversion). Along each path we score the
  quality of the images (FLD of all of them), whether they lie on the learned manifold (drift D(f(y), y)), and
  the evenness of the path: the largest step between neighbouring images over the mean step (1: even; large: a
  jump).
- Arithmetic: f(z+ - z- + z), where f(z+) has a property that f(z-) and f(z) lack. On digits the property is
  LeNet's class of f(z+); the control replaces z+ by a noise drawn without regard to the property. The measure is
  the share of outputs that have the property, edited against control.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

Apply = Callable[[torch.Tensor], torch.Tensor]


def lerp_paths(a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
    """(pairs, steps, ...) points (1 - t) a + t b for t = 0 ... 1."""
    t = torch.linspace(0, 1, steps).view(1, steps, *([1] * (a.dim() - 1)))
    return (1 - t) * a.unsqueeze(1) + t * b.unsqueeze(1)


def path_evenness(images: torch.Tensor) -> float:
    """Mean over paths (pairs, steps, ...) of the largest L1 step between neighbours over the mean step."""
    steps = (images[:, 1:] - images[:, :-1]).abs().flatten(2).mean(-1)
    return float((steps.max(1).values / steps.mean(1).clamp_min(1e-12)).mean())


def interpolation_paths(f: Apply, encode: Apply, decode: Apply, z: torch.Tensor, x: torch.Tensor,
                        pairs: int, steps: int) -> dict[str, torch.Tensor]:
    """Images along the paths, (pairs, steps, C, H, W): "interp z": f of interpolated noise; "interp x": decoded
    interpolated codes of real images."""
    n = min(pairs, len(z) // 2, len(x) // 2)
    noise = lerp_paths(z[:n], z[n : 2 * n], steps)
    codes = encode(torch.cat([x[:n], x[n : 2 * n]]))
    code_paths = lerp_paths(codes[:n], codes[n:], steps)
    return {"interp z": f(noise.flatten(0, 1)).unflatten(0, (n, steps)),
            "interp x": decode(code_paths.flatten(0, 1)).unflatten(0, (n, steps))}


def arithmetic(f: Apply, classify: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor, triplets: int,
               seed: int) -> dict[str, torch.Tensor | float]:
    """Latent arithmetic with the class of f(z+) as the property; returns the edited and control outputs and the
    share of each that has the property ("edited", "control", "edited_share", "control_share")."""
    rng = np.random.default_rng(seed)
    classes = classify(f(z)).numpy()
    if len(np.unique(classes)) < 2:  # collapsed to one class: no z lacks the property
        nothing = z[:0]
        return {"edited": nothing, "control": nothing, "edited_share": float("nan"), "control_share": float("nan")}
    pos = rng.integers(len(z), size=triplets)
    target = classes[pos]
    neg, base = (np.array([rng.choice(np.flatnonzero(classes != c)) for c in target]) for _ in range(2))
    control = rng.integers(len(z), size=triplets)
    edited = f(z[pos] - z[neg] + z[base])
    controlled = f(z[control] - z[neg] + z[base])
    hit = lambda images: float((classify(images).numpy() == target).mean())  # noqa: E731
    return {"edited": edited, "control": controlled, "edited_share": hit(edited), "control_share": hit(controlled)}
