"""FLD: Fréchet distance between LeNet features of two image sets, via torch-fidelity's feature pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torch_fidelity.utils import create_feature_extractor, get_featuresdict_from_dataset

from ignbench.evaluate.metrics import lenet
from ignbench.evaluate.metrics.frechet import frechet_distance_features


class Uint8Images(Dataset):
    """Images in [-1, 1] presented as uint8 tensors, the input torch-fidelity extractors expect; `channels = 3`
    repeats a grayscale channel for RGB extractors such as InceptionV3."""

    def __init__(self, images: torch.Tensor, channels: int | None = None):
        self.images = images.add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8).cpu()
        if channels is not None and self.images.shape[1] != channels:
            self.images = self.images.expand(-1, channels, -1, -1).contiguous()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


def lenet_features(images: torch.Tensor, weights: Path | None = None, batch_size: int = 500) -> np.ndarray:
    """(N, 84) float64 LeNet features of images in [-1, 1]."""
    extractor = create_feature_extractor(
        lenet.EXTRACTOR_NAME, [lenet.FEATURE_LAYER], cuda=False, verbose=False,
        feature_extractor_weights_path=str(weights) if weights else None,
    )
    feats = get_featuresdict_from_dataset(Uint8Images(images), extractor, batch_size, cuda=False,
                                          save_cpu_ram=True, verbose=False)
    return feats[lenet.FEATURE_LAYER].double().numpy()


def sanity_values(dataset: str, data_root: Path | None, weights: Path | None) -> list[tuple[str, float, int]]:
    """(name, FLD against the test split, n) for the test split itself, a same-size train subset, and noise."""
    from ignbench.data.images import load_labelled

    train_x, _, test_x, _ = load_labelled(dataset, 32, data_root)
    n = min(len(test_x), 10000)
    test_f = lenet_features(test_x[:n], weights)
    g = torch.Generator().manual_seed(0)
    train_subset = train_x[torch.randperm(len(train_x), generator=g)[:n]]  # mnist-5k is sorted by class
    noise = torch.randn(n, 1, 32, 32, generator=g).clamp(-1, 1)
    return [(name, frechet_distance_features(lenet_features(images, weights), test_f), n)
            for name, images in (("test", test_x[:n]), ("train", train_subset), ("noise", noise))]


@torch.no_grad()
def lenet_classes(images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """The digit class the shipped LeNet gives each image in [-1, 1]."""
    model = lenet.load_lenet()
    return torch.cat([model(images[i : i + batch_size].cpu()).argmax(1) for i in range(0, len(images), batch_size)])
