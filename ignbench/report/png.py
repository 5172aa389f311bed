"""Writing a figure: a 256-colour PNG (a third of the RGBA file's size, the same picture to the eye), written
atomically, so that the committed evidence stays light and a reader never sees half a file."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

from ignbench.store import atomic_write_bytes  # noqa: E402

DPI = 110


def save_figure(fig: plt.Figure, path: Path, dpi: int = DPI) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    image = Image.open(buffer).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    out = io.BytesIO()
    image.save(out, format="png", optimize=True)
    atomic_write_bytes(path, out.getvalue())
    return path
