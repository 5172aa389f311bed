"""LeNet-5 for FLD (the Fréchet distance in a LeNet's feature space, NAIGN §4) and for Coverage/Density.

The NAIGN paper names no LeNet checkpoint, so ignbench ships its own, made by `ignbench fld train`:
    architecture  LeNet-5: conv5x5(6)-ReLU-maxpool2, conv5x5(16)-ReLU-maxpool2, fc120-ReLU, fc84-ReLU, fc10
    input         1x32x32 in [-1, 1] (28x28 inputs are resized bilinearly)
    feature layer "fc2_relu": the 84-d ReLU output of the second fully connected layer (the penultimate layer)
    recipe        `train_lenet`: Adam lr 1e-3, batch 64, 15 epochs, seed 0, on the training split of the dataset
The shipped weights file is pinned by sha256 (SHIPPED_SHA256); a mismatch is an error, never a silent change.
The extractor is registered with torch-fidelity (`register_feature_extractor`) as "lenet5-ignbench".
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F
import torch_fidelity
from torch import nn
from torch_fidelity.feature_extractor_base import FeatureExtractorBase

from ignbench.core.errors import UserError

EXTRACTOR_NAME = "lenet5-ignbench"
FEATURE_LAYER = "fc2_relu"
SHIPPED_WEIGHTS = Path(__file__).resolve().parents[2] / "assets" / "lenet5_mnist5k.pt"
SHIPPED_SHA256 = "58094a5ff23c8a82a391bf1d868c79fd18f99d93ef0fd5a2ea6d8ed27db5f684"


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """84-d penultimate features of images in [-1, 1]."""
        if x.shape[-1] != 32:
            x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return F.relu(self.fc2(F.relu(self.fc1(x.flatten(1)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(self.features(x))


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_lenet(weights: Path | None = None) -> LeNet5:
    """The shipped LeNet (sha256-checked) or one from `weights`."""
    path = Path(weights) if weights else SHIPPED_WEIGHTS
    if not path.exists():
        raise UserError(f"LeNet weights not found: {path} (make them with `ignbench fld train`)")
    if weights is None and sha256(path) != SHIPPED_SHA256:
        raise UserError(f"{path}: sha256 does not match the pinned LeNet weights; reinstall ignbench")
    model = LeNet5()
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except (RuntimeError, OSError) as exc:
        raise UserError(f"{path}: not a LeNet5 state dict ({exc.__class__.__name__})") from None
    return model.eval().requires_grad_(False)


class LeNetExtractor(FeatureExtractorBase):
    """torch-fidelity feature extractor: uint8 images (N, 1, H, W) -> ("fc2_relu",) 84-d features."""

    def __init__(self, name: str, features_list: list[str], feature_extractor_weights_path: str | None = None,
                 **kwargs):
        super().__init__(name, features_list)
        self.lenet = load_lenet(Path(feature_extractor_weights_path) if feature_extractor_weights_path else None)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        images = x.float().div(127.5).sub(1.0)
        return (self.lenet.features(images),)

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return (FEATURE_LAYER,)

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return FEATURE_LAYER

    @staticmethod
    def can_be_compiled() -> bool:
        return False

    @staticmethod
    def get_dummy_input_for_compile() -> torch.Tensor:
        return torch.zeros(1, 1, 32, 32, dtype=torch.uint8)


if EXTRACTOR_NAME not in torch_fidelity.registry.FEATURE_EXTRACTORS_REGISTRY:
    torch_fidelity.register_feature_extractor(EXTRACTOR_NAME, LeNetExtractor)


def train_lenet(train: torch.Tensor, labels: torch.Tensor, epochs: int = 15, seed: int = 0,
                progress: bool = True) -> LeNet5:
    """The FLD LeNet recipe (module docstring). `train` in [-1, 1], (N, 1, H, W)."""
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = LeNet5()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in tqdm(range(epochs), desc="LeNet epochs", disable=not progress):
        perm = torch.randperm(len(train), generator=g)
        for start in range(0, len(train), 64):
            idx = perm[start : start + 64]
            loss = F.cross_entropy(model(train[idx]), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def accuracy(model: LeNet5, images: torch.Tensor, labels: torch.Tensor) -> float:
    return float((model(images).argmax(1) == labels).float().mean())
