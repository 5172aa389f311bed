"""What a method is: how it turns a batch into its loss terms and weighs them (`Method`), and what a step feeds
it (`Batch`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ignbench.core.config import RunConfig

if TYPE_CHECKING:  # the registry is read when specs load; torch is loaded by the objectives
    import torch
    from torch import nn

Terms = dict[str, Any]  # name -> a tensor of per-run values

@dataclass
class Batch:
    """What one step of one run (or of a stacked ensemble) consumes: data x, fresh noise z, and for IMLE
    methods the pair (x_imle, z*) found by the search or drawn from the replay buffer."""

    x: torch.Tensor
    z: torch.Tensor
    x_imle: torch.Tensor | None = None
    z_star: torch.Tensor | None = None


@dataclass(frozen=True)
class Method:
    """A method. `terms(f, batch, cfg)` gives its per-sample loss terms (tensors shaped like the batch's leading
    dimensions: (batch,) for one run, (runs, batch) stacked); `loss(terms, cfg, warming_up)` weighs them into the
    per-run loss. `imle`: its step needs the IMLE search (batch.x_imle, batch.z_star). `grad_passes`: forward
    applications with gradients per sample and step (the cost model of --dry-run)."""

    name: str
    label: str
    imle: bool
    terms: Callable[[nn.Module, Batch, RunConfig], Terms]
    loss: Callable[[Terms, RunConfig, bool], torch.Tensor]
    grad_passes: int
