"""Evaluate a trained model: generation metrics for images, mode/drift measures for toy data."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ignbench.config import RunConfig
from ignbench.data import Data
from ignbench.degradations import DEGRADATIONS
from ignbench.metrics import lowdim
from ignbench.metrics.fid import inception_features
from ignbench.metrics.fld import lenet_features
from ignbench.metrics.frechet import frechet_distance_features
from ignbench.metrics.prdc import coverage_density
from ignbench.metrics.stability import FK_SAMPLES, fk_stability
from ignbench.noise import Prior
from ignbench.objectives import bn_stats_frozen, distance
from ignbench.store import RunDir, atomic_torch_save, atomic_write_bytes

EVAL_SEED = 10_000
DEGRADATION_SEED = 20_000
EVAL_BATCH = 500
GRID_SIZE = {1: 1000, 2: 100}
ARTIFACT_POINTS = 2000


@torch.no_grad()
def apply(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """f(inputs), in batches of EVAL_BATCH (BatchNorm in train mode sees EVAL_BATCH-sized batches)."""
    device = next(model.parameters()).device
    return torch.cat([model(inputs[start : start + EVAL_BATCH].to(device)).cpu()
                      for start in range(0, len(inputs), EVAL_BATCH)])


def evaluate_run(cfg: RunConfig, model: nn.Module, data: Data, prior: Prior, rd: RunDir) -> dict:
    """Metrics as {application: {metric: value}}; also writes the run's sample artifacts."""
    model.train(cfg.eval_bn_mode == "train")
    g = torch.Generator().manual_seed(EVAL_SEED + cfg.seed)
    z = prior.sample(cfg.eval_n_samples, g)
    fz = apply(model, z)
    ffz = apply(model, fz)
    fx = apply(model, data.test)
    metrics = {"f(x)": {"rec_error": float(distance(fx, data.test, cfg.distance).mean())}}
    if cfg.eval_kind == "generation":
        _save_image_grid(rd.samples, data.test, fx, z, fz, ffz)
        real_feats = lenet_features(data.test)
        metrics.update(_generation(real_feats, {"f(z)": fz, "f(f(z))": ffz}))
        if cfg.eval_fid:
            metrics = _add_fid(metrics, data.test, {"f(z)": fz, "f(f(z))": ffz})
        metrics.update(_restoration(model, data.test, rd))
        metrics.update(_stability(model, z[:FK_SAMPLES], real_feats, rd))
    else:
        metrics.update(_lowdim(cfg, model, data, {"f(z)": fz, "f(f(z))": ffz}, rd, (data.test, fx, z, fz, ffz)))
    return metrics


class FLDCurve:
    """FLD of f(z) against the test images during training (NAIGN Figs 4 and 9), one point per call.

    The same z (own generator) at every point, BatchNorm in `eval_bn_mode` with its running statistics left
    untouched, no draw from the training generators: a curve never changes the training it watches.
    """

    def __init__(self, cfg: RunConfig, prior: Prior, test: torch.Tensor):
        n = min(cfg.curve_n_samples, len(test))
        self.bn_train = cfg.eval_bn_mode == "train"
        self.z = prior.sample(n, torch.Generator().manual_seed(EVAL_SEED + cfg.seed + 1))
        self.real_feats = lenet_features(test[:n])

    def point(self, model: nn.Module) -> float:
        with bn_stats_frozen(model):
            model.train(self.bn_train)
            fz = apply(model, self.z)
            model.train()
        return frechet_distance_features(lenet_features(fz), self.real_feats)


def _generation(real_feats: np.ndarray, fakes: dict[str, torch.Tensor]) -> dict:
    out = {}
    for app, images in fakes.items():
        feats = lenet_features(images)
        out[app] = {"fld": frechet_distance_features(feats, real_feats), **coverage_density(real_feats, feats)}
    return out


def _add_fid(metrics: dict, real: torch.Tensor, fakes: dict[str, torch.Tensor]) -> dict:
    real_inception = inception_features(real)
    for app, images in fakes.items():
        metrics[app]["fid"] = frechet_distance_features(inception_features(images), real_inception)
    return metrics


def _restoration(model: nn.Module, clean: torch.Tensor, rd: RunDir) -> dict:
    """NAIGN Table 2: MAE of f(x') for each degradation x' of the test images (same x' for every run).

    mae: |f(x') - x| (restored against the clean image, our reading); mae_to_degraded: |f(x') - x'| (the
    paper's literal wording); mae_input: |x' - x|, what doing nothing would score.
    """
    g = torch.Generator().manual_seed(DEGRADATION_SEED)
    out, columns = {}, [clean]
    for name, degrade in DEGRADATIONS.items():
        degraded = degrade(clean, g)
        restored = apply(model, degraded)
        out[name] = {"mae": float((restored - clean).abs().mean()),
                     "mae_to_degraded": float((restored - degraded).abs().mean()),
                     "mae_input": float((degraded - clean).abs().mean())}
        columns += [degraded, restored]
    _save_image_grid(rd.restoration, *columns)
    return out


def _stability(model: nn.Module, z: torch.Tensor, real_feats: np.ndarray, rd: RunDir) -> dict:
    """IGN Fig. 16: f^k(z) for k up to 200, its L1 distance to f(z), its drift, and its FLD."""
    stats, images = fk_stability(lambda y: apply(model, y), z)
    _save_image_grid(rd.iterates, *images.values())
    return {f"f^{k}(z)": {**values, "fld": frechet_distance_features(lenet_features(images[k]), real_feats)}
            for k, values in stats.items()}


def _lowdim(cfg: RunConfig, model: nn.Module, data: Data, fakes: dict[str, torch.Tensor], rd: RunDir,
            panels: tuple[torch.Tensor, ...]) -> dict:
    dist = data.toy
    out = {}
    for app, samples in fakes.items():
        out[app] = coverage_density(data.test, samples)
        if dist.centers is not None:
            out[app].update(lowdim.mode_stats(samples, dist))
    grid = lowdim.grid_points(dist, GRID_SIZE[dist.dim])
    drift = (grid - apply(model, grid)).norm(dim=1)
    true = dist.manifold_distance(grid)
    out["drift"] = lowdim.drift_stats(drift, true)
    near = true < 1.0
    out["drift_near"] = lowdim.drift_stats(drift[near], true[near])
    coarse = lowdim.grid_points(dist, 21 if dist.dim == 2 else 41)
    n = ARTIFACT_POINTS
    shown = torch.randperm(len(panels[0]), generator=torch.Generator().manual_seed(0))[:n]  # moons come ordered
    atomic_torch_save({
        "x": panels[0][shown], "f(x)": panels[1][shown], "z": panels[2][:n], "f(z)": panels[3][:n],
        "f(f(z))": panels[4][:n], "grid": grid, "drift": drift, "true_distance": true,
        "coarse": coarse, "coarse_projection": apply(model, coarse), "dataset": dist.name,
    }, rd.artifacts)
    return out


def _save_image_grid(path: Path, *columns: torch.Tensor, rows: int = 8) -> None:
    """PNG with one column per tensor (NAIGN Fig. 10: x, f(x), z, f(z), f(f(z)); Fig. 11: x, then x', f(x')
    per degradation); rows spread over the test set (sorted by class in mnist-5k)."""
    from torchvision.utils import save_image

    idx = torch.linspace(0, min(len(c) for c in columns) - 1, rows).long()
    tiles = torch.stack([c[idx] for c in columns], dim=1).flatten(0, 1)
    buffer = io.BytesIO()
    save_image(tiles.clamp(-1, 1).add(1).div(2), buffer, format="png", nrow=len(columns), padding=1)
    atomic_write_bytes(path, buffer.getvalue())
