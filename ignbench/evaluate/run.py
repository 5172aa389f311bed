"""Evaluate a trained model: generation, restoration and f^k measures for images; modes and drift for toy data.

The papers never say which BatchNorm mode they evaluate in, and it changes IGN's numbers a lot, so a model with
BatchNorm is scored twice: with its running statistics ("eval") and with batch statistics over batches of
`eval_batch` ("train", running statistics left untouched). Models without BatchNorm are scored once ("none").
`evaluate_run` returns numbers and the bytes of its figures; the store writes them.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ignbench.core.config import RunConfig
from ignbench.core.measures import plugin_metrics
from ignbench.core.serial import torch_bytes
from ignbench.data import Data
from ignbench.evaluate.degradations import degradations as table2_degradations
from ignbench.evaluate.latent import arithmetic, interpolation_paths, path_evenness
from ignbench.evaluate.metrics import lowdim
from ignbench.evaluate.metrics.collapse import collapse_measures
from ignbench.evaluate.metrics.fid import inception_features
from ignbench.evaluate.metrics.fld import lenet_classes, lenet_features
from ignbench.evaluate.metrics.frechet import frechet_distance_features
from ignbench.evaluate.metrics.memorisation import memorisation, nearest_training_images
from ignbench.evaluate.metrics.prdc import coverage_density
from ignbench.evaluate.metrics.stability import fk_stability
from ignbench.evaluate.outputs import EVALUATIONS, feature_metric
from ignbench.evaluate.projections import ood_inputs
from ignbench.methods.noise import Prior
from ignbench.methods.objectives import bn_stats_frozen, distance

Metrics = dict[str, dict[str, dict[str, float]]]  # {bn_mode: {application: {metric: value}}}
ARTIFACT_POINTS = 2000


def feature_space(cfg: RunConfig) -> tuple[str, Callable[[torch.Tensor], np.ndarray]]:
    """The Fréchet metric of a dataset and its feature extractor: FLD (LeNet) for digits, FID (InceptionV3) for
    RGB faces. Coverage and Density are computed in the same space."""
    return feature_metric(cfg), (lenet_features if cfg.channels == 1 else inception_features)


def bn_modes(model: nn.Module) -> tuple[str, ...]:
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    return ("eval", "train") if has_bn else ("none",)


@contextlib.contextmanager
def bn_mode(model: nn.Module, mode: str) -> Iterator[None]:
    """Run f in a BatchNorm mode without changing its running statistics; the model ends in train mode."""
    with bn_stats_frozen(model):
        model.train(mode == "train")
        try:
            yield
        finally:
            model.train()


@torch.no_grad()
def apply(model: nn.Module, inputs: torch.Tensor, batch: int) -> torch.Tensor:
    """f(inputs), in batches of `batch` (BatchNorm in train mode sees batches of this size)."""
    device = next(model.parameters()).device
    return torch.cat([model(inputs[start : start + batch].to(device)).cpu()
                      for start in range(0, len(inputs), batch)])


@dataclass
class Context:
    """One run's evaluation: its config, model, data and noise z, and what every BatchNorm mode shares."""

    cfg: RunConfig
    model: nn.Module
    data: Data
    z: torch.Tensor

    @functools.cached_property
    def real_feats(self) -> np.ndarray:
        """The test images in the Fréchet metric's feature space (computed once, for both modes)."""
        return feature_space(self.cfg)[1](self.data.test)


def evaluate_run(cfg: RunConfig, model: nn.Module, data: Data, prior: Prior) -> tuple[Metrics, dict[str, bytes]]:
    """(metrics per BatchNorm mode, files to store beside them), by the run's evaluation kind
    (`outputs.EVALUATIONS`)."""
    z = prior.sample(cfg.eval_n_samples, torch.Generator().manual_seed(cfg.eval_seed + cfg.seed))
    context = Context(cfg, model, data, z)
    module, _, name = EVALUATIONS[cfg.eval_kind].measure.partition(":")
    measure = getattr(importlib.import_module(module), name)
    metrics: Metrics = {}
    files: dict[str, bytes] = {}
    for mode in bn_modes(model):
        with bn_mode(model, mode):
            metrics[mode], mode_files = measure(context, lambda y: apply(model, y, cfg.eval_batch))
        files.update({name.replace("{mode}", mode): png for name, png in mode_files.items()})
    return metrics, files


def generation_metrics(ctx: Context, f) -> tuple[dict, dict]:
    """Generation (Table 1), restoration (Table 2) and f^k (Fig. 16); with eval_projector, IGN's projections."""
    metrics, files = _image_metrics(ctx.cfg, f, ctx.data, ctx.z, ctx.real_feats)
    if ctx.cfg.eval_projector:
        extra, extra_files = _projector_metrics(ctx.cfg, ctx.model, f, ctx.data, ctx.z, ctx.real_feats)
        metrics.update(extra)
        files.update(extra_files)
    return metrics, files


def fewshot_metrics(ctx: Context, f) -> tuple[dict, dict]:
    return _fewshot_metrics(ctx.cfg, f, ctx.data, ctx.z)


def lowdim_metrics(ctx: Context, f) -> tuple[dict, dict]:
    return _lowdim_metrics(ctx.cfg, f, ctx.data, ctx.z)


def _image_metrics(cfg: RunConfig, f, data: Data, z: torch.Tensor, real_feats: np.ndarray) -> tuple[dict, dict]:
    fz = f(z)
    ffz = f(fz)
    fx = f(data.test)
    out = {"f(x)": {"rec_error": float(distance(fx, data.test, cfg.distance).mean())}}
    fakes = {"f(z)": fz, "f(f(z))": ffz}
    fd, features = feature_space(cfg)
    for app, images in fakes.items():
        feats = features(images)
        out[app] = {fd: frechet_distance_features(feats, real_feats), **coverage_density(real_feats, feats, cfg.prdc_k),
                    **plugin_values(images, data.test)}
    out["f(z)"].update(collapse_measures(fz, data.test, data.train))
    if cfg.eval_fid and fd != "fid":
        real_inception = inception_features(data.test)
        for app, images in fakes.items():
            out[app]["fid"] = frechet_distance_features(inception_features(images), real_inception)
    restoration, restoration_columns = _restoration(cfg, f, data.test)
    out.update(restoration)
    stats, iterates = fk_stability(f, z[: cfg.fk_samples], cfg.fk_steps)
    for k, values in stats.items():
        out[f"f^{k}(z)"] = {**values, fd: frechet_distance_features(features(iterates[k]), real_feats)}
    files = {"samples_{mode}.png": image_grid_png(data.test, fx, z, fz, ffz),
             "restoration_{mode}.png": image_grid_png(*restoration_columns),
             "iterates_{mode}.png": image_grid_png(*iterates.values())}
    return out, files


def _restoration(cfg: RunConfig, f, clean: torch.Tensor) -> tuple[dict, list[torch.Tensor]]:
    """NAIGN Table 2: MAE of f(x') for each degradation x' of the test images (the same x' for every run).

    mae: |f(x') - x| (restored against the clean image, our reading); mae_to_degraded: |f(x') - x'| (the
    paper's literal wording); mae_input: |x' - x|, what doing nothing would score.
    """
    g = torch.Generator().manual_seed(cfg.degradation_seed)
    out, columns = {}, [clean]
    for name, degrade in table2_degradations(cfg).items():
        degraded = degrade(clean, g)
        restored = f(degraded)
        out[name] = {"mae": float((restored - clean).abs().mean()),
                     "mae_to_degraded": float((restored - degraded).abs().mean()),
                     "mae_input": float((degraded - clean).abs().mean())}
        columns += [degraded, restored]
    return out, columns


def _projector_metrics(cfg: RunConfig, model: nn.Module, f, data: Data, z: torch.Tensor,
                       real_feats: np.ndarray) -> tuple[dict, dict]:
    """IGN Figs 5 and 6: unseen inputs x' and their projections f(x'), f(f(x')), interpolation paths and latent
    arithmetic. Per input y of the unseen set: fld (against the test set), mae (to the clean x), drift |f(y) - y|
    (zero on the learned manifold) and source_gap (mean L1 to another test image minus that to its own x: above
    zero when y keeps its source)."""
    fd, features = feature_space(cfg)
    distance_to_data = lambda images: frechet_distance_features(features(images), real_feats)  # noqa: E731
    clean = data.test
    g = torch.Generator().manual_seed(cfg.degradation_seed)
    order = torch.randperm(len(clean), generator=g)
    partner = torch.empty_like(order)
    partner[order] = order.roll(1)  # every image paired with another one, at random (mnist-5k is sorted by class)
    out, columns = {}, [clean]
    for name, shifted in ood_inputs(clean, cfg.ood_noise_sigma, cfg.sketch_kernel, g).items():
        chain = [shifted]
        for _ in range(3):
            chain.append(f(chain[-1]))
        for applied, y, fy in zip(("x'", "f(x')", "f(f(x'))"), chain[:3], chain[1:], strict=True):
            own = (y - clean).abs().mean()
            out[f"{name}: {applied}"] = {fd: distance_to_data(y), "mae": float(own),
                                         "drift": float((fy - y).abs().mean()),
                                         "source_gap": float((y - clean[partner]).abs().mean() - own)}
        columns += chain[:3]
    encode = lambda x: apply(model.encoder, x, cfg.eval_batch)  # noqa: E731
    decode = lambda c: apply(model.decoder, c, cfg.eval_batch)  # noqa: E731
    paths = interpolation_paths(f, encode, decode, z, clean[order], cfg.interp_pairs, cfg.interp_steps)  # shuffled
    for app, images in paths.items():
        flat = images.flatten(0, 1)
        out[app] = {fd: distance_to_data(flat), "drift": float((f(flat) - flat).abs().mean()),
                    "evenness": path_evenness(images)}
    files = {"projections_{mode}.png": image_grid_png(*columns),
             "interpolation_{mode}.png": path_grid_png(*paths.values())}
    if cfg.channels == 1:  # the attribute is LeNet's digit class; faces have no attribute classifier here
        edits = arithmetic(f, lenet_classes, z, cfg.arithmetic_triplets, cfg.eval_seed + cfg.seed)
        out["arithmetic: f(z+ - z- + z)"] = {"attribute": edits["edited_share"]}
        out["arithmetic: f(z' - z- + z)"] = {"attribute": edits["control_share"]}
        if len(edits["edited"]):
            files["arithmetic_{mode}.png"] = image_grid_png(edits["edited"], edits["control"])
    return out, files


def _fewshot_metrics(cfg: RunConfig, f, data: Data, z: torch.Tensor) -> tuple[dict, dict]:
    """NAIGN Fig. 5: reconstruction, and memorisation, diversity and Coverage/Density (pixel space) of f(z) and
    f(f(z)) against the few training images."""
    train = data.train
    fz = f(z)
    ffz = f(fz)
    fx = f(train)
    out = {"f(x)": {"rec_error": float(distance(fx, train, cfg.distance).mean())}}
    for app, samples in {"f(z)": fz, "f(f(z))": ffz}.items():
        out[app] = {**memorisation(samples, train, cfg.copy_ratio), **plugin_values(samples, train),
                    **coverage_density(train.flatten(1), samples.flatten(1), cfg.prdc_k)}
    out["f(z)"].update(collapse_measures(fz, train, train))
    files = {"samples_{mode}.png": image_grid_png(train, fx, z, fz, ffz),
             "nearest_{mode}.png": image_grid_png(fz, nearest_training_images(fz, train), rows=16)}
    return out, files


def _lowdim_metrics(cfg: RunConfig, f, data: Data, z: torch.Tensor) -> tuple[dict, dict]:
    dist = data.toy
    fz = f(z)
    ffz = f(fz)
    fx = f(data.test)
    out = {"f(x)": {"rec_error": float(distance(fx, data.test, cfg.distance).mean())}}
    for app, samples in {"f(z)": fz, "f(f(z))": ffz}.items():
        out[app] = {**coverage_density(data.test, samples, cfg.prdc_k), **plugin_values(samples, data.test)}
        out[app]["coverage_r"] = lowdim.coverage_at_radius(data.test, samples, cfg.coverage_radius)
        if dist.centers is not None:
            out[app].update(lowdim.mode_stats(samples, dist, cfg.mode_share))
    out["f(z)"].update(collapse_measures(fz, data.test, data.train))
    grid = lowdim.grid_points(dist, cfg.grid_points)
    drift = (grid - f(grid)).norm(dim=1)
    true = dist.manifold_distance(grid)
    out["drift"] = lowdim.drift_stats(drift, true)
    near = true < cfg.near_threshold
    out["drift_near"] = lowdim.drift_stats(drift[near], true[near])
    coarse = lowdim.grid_points(dist, cfg.projection_points)
    n = ARTIFACT_POINTS
    shown = torch.randperm(len(data.test), generator=torch.Generator().manual_seed(0))[:n]  # moons come ordered
    artifacts = {"x": data.test[shown], "f(x)": fx[shown], "z": z[:n], "f(z)": fz[:n], "f(f(z))": ffz[:n],
                 "grid": grid, "drift": drift, "true_distance": true, "coarse": coarse,
                 "coarse_projection": f(coarse), "dataset": dist.name}
    return out, {"artifacts_{mode}.pt": torch_bytes(artifacts)}


def plugin_values(samples: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    """Every plugin metric of samples against the real points (`ignbench.core.measures.Measure.compute`)."""
    return {name: float(m.compute(samples, reference)) for name, m in plugin_metrics().items()}


def image_grid_png(*columns: torch.Tensor, rows: int = 8) -> bytes:
    """PNG with one column per tensor (NAIGN Fig. 10: x, f(x), z, f(z), f(f(z)); Fig. 11: x, then x', f(x')
    per degradation); rows spread over the test set (sorted by class in mnist-5k)."""
    from torchvision.utils import save_image

    idx = torch.linspace(0, min(len(c) for c in columns) - 1, rows).long()
    tiles = torch.stack([c[idx] for c in columns], dim=1).flatten(0, 1)
    buffer = io.BytesIO()
    save_image(tiles.clamp(-1, 1).add(1).div(2), buffer, format="png", nrow=len(columns), padding=1)
    return buffer.getvalue()


def path_grid_png(*paths: torch.Tensor, rows: int = 4) -> bytes:
    """PNG of interpolation paths (pairs, steps, C, H, W): `rows` paths of each, one path per row."""
    from torchvision.utils import save_image

    tiles = torch.cat([p[:rows] for p in paths]).flatten(0, 1)
    buffer = io.BytesIO()
    save_image(tiles.clamp(-1, 1).add(1).div(2), buffer, format="png", nrow=paths[0].shape[1], padding=1)
    return buffer.getvalue()


class Curve:
    """Key metrics during training (NAIGN Figs 4, 9: FLD of f(z); toy data: the measures the claims use), one
    point per call, in every BatchNorm mode. The same z at every point (its own generator) and BatchNorm
    statistics untouched: a curve never changes the training it watches."""

    def __init__(self, cfg: RunConfig, data: Data, prior: Prior):
        self.cfg = cfg
        self.data = data
        n = min(cfg.curve_n_samples, len(data.test_all))
        self.z = prior.sample(n, torch.Generator().manual_seed(cfg.eval_seed + cfg.seed + 1))
        self.real = data.test_all[:n]
        self.fd, self.features = feature_space(cfg)
        self.real_feats = self.features(self.real) if cfg.image else None
        if not cfg.image:
            self.grid = lowdim.grid_points(data.toy, 2500)
            self.true = data.toy.manifold_distance(self.grid)

    def point(self, model: nn.Module) -> list[tuple[str, str, float]]:
        """(bn_mode, metric, value) rows for the model as it is now."""
        rows = []
        for mode in bn_modes(model):
            with bn_mode(model, mode):
                fz = apply(model, self.z, self.cfg.eval_batch)
                collapse = collapse_measures(fz, self.real, self.data.train)
                if self.cfg.image:
                    values = {self.fd: frechet_distance_features(self.features(fz), self.real_feats), **collapse}
                    rows += [(mode, metric, float(v)) for metric, v in values.items()]
                    continue
                values = {**coverage_density(self.real, fz, self.cfg.prdc_k), **collapse}
                values["coverage_r"] = lowdim.coverage_at_radius(self.real, fz, self.cfg.coverage_radius)
                if self.data.toy.centers is not None:
                    values.update(lowdim.mode_stats(fz, self.data.toy, self.cfg.mode_share))
                drift = (self.grid - apply(model, self.grid, self.cfg.eval_batch)).norm(dim=1)
                values["drift_corr"] = lowdim.drift_stats(drift, self.true)["corr"]
                rows += [(mode, metric, float(v)) for metric, v in values.items() if metric != "n_modes"]
        return rows
