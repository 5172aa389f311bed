"""Bytes of a torch object, for files written atomically (checkpoints, evaluation artefacts)."""

from __future__ import annotations

import io
from typing import Any


def torch_bytes(obj: Any) -> bytes:
    import torch  # lazy: `ignbench.load_results` should not pay for importing torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()
