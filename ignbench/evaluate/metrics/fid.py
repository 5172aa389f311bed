"""FID: the Fréchet distance between torch-fidelity's InceptionV3 features (pool3, 2048-d) of two image sets.

The weights (torch-fidelity's `weights-inception-2015-12-05-6726825d.pth`) are downloaded by torch-fidelity when
online. Offline, give their path with `--inception-weights PATH` or the IGNBENCH_INCEPTION_WEIGHTS variable;
without either, an offline machine (IGNBENCH_OFFLINE=1) or a failed download gets a one-line UserError saying so.
Grayscale images are repeated to three channels; torch-fidelity resizes to 299 x 299 inside the extractor.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import torch
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3
from torch_fidelity.utils import create_feature_extractor, get_featuresdict_from_dataset

from ignbench.core.errors import UserError
from ignbench.evaluate.metrics.fld import Uint8Images
from ignbench.evaluate.metrics.frechet import frechet_distance_features

EXTRACTOR_NAME = "inception-v3-compat"
FEATURE_LAYER = "2048"
WEIGHTS_ENV = "IGNBENCH_INCEPTION_WEIGHTS"
HOW_TO = (f"download {URL_INCEPTION_V3} and pass --inception-weights PATH (or set {WEIGHTS_ENV}=PATH), "
          "or run where torch-fidelity can download it")


def inception_weights() -> Path | None:
    """The weights file to use: IGNBENCH_INCEPTION_WEIGHTS, or None to let torch-fidelity download it."""
    path = os.environ.get(WEIGHTS_ENV)
    if path:
        if not Path(path).is_file():
            raise UserError(f"{WEIGHTS_ENV}: InceptionV3 weights file {path} not found; {HOW_TO}")
        return Path(path)
    if os.environ.get("IGNBENCH_OFFLINE", "") not in ("", "0"):
        raise UserError(f"FID needs the InceptionV3 weights and this machine is offline (IGNBENCH_OFFLINE); {HOW_TO}")
    return None


def _extractor(feature: str):
    weights = inception_weights()
    try:
        return create_feature_extractor(EXTRACTOR_NAME, [feature], cuda=False, verbose=False,
                                        feature_extractor_weights_path=str(weights) if weights else None)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:  # failed download, or not the weights
        raise UserError(f"InceptionV3 weights could not be loaded ({str(exc).splitlines()[0]}); {HOW_TO}") from None


def check_fid_available() -> None:
    """Fail early (before any run starts) when FID is requested but its weights cannot be had."""
    _extractor(FEATURE_LAYER)


def inception_features(images: torch.Tensor, feature: str = FEATURE_LAYER, batch_size: int = 100) -> np.ndarray:
    """(N, d) float64 InceptionV3 features of images in [-1, 1] (d = 2048 for the FID layer)."""
    feats = get_featuresdict_from_dataset(Uint8Images(images, channels=3), _extractor(feature), batch_size,
                                          cuda=False, save_cpu_ram=True, verbose=False)
    return feats[feature].double().numpy()


def fid(fake: torch.Tensor, real: torch.Tensor, feature: str = FEATURE_LAYER) -> float:
    return frechet_distance_features(inception_features(fake, feature), inception_features(real, feature))
