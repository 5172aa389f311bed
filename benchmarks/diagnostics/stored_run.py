"""A stored image run, resumed from its newest readable checkpoint, for the diagnostic scripts beside this one."""

from __future__ import annotations

from pathlib import Path

import torch

from ignbench.core.config import RunConfig
from ignbench.core.errors import UserError
from ignbench.data import load_data
from ignbench.store import RunDir, read_json
from ignbench.train.trainer import Trainer


def resume(run_dir: Path, steps: int | None = None, method: str | None = None) -> tuple[RunConfig, Trainer]:
    """(the run's config, a trainer at its checkpoint, to train on to `steps` and under `method`'s objective if
    given); a missing, corrupt or non-image run, or a method whose state differs, exits with a one-line error."""
    try:
        rd = RunDir(run_dir)
        if not rd.config.exists():
            raise UserError(f"{rd.config} does not exist: not a run folder of the store")
        cfg = RunConfig.from_dict(read_json(rd.config), str(rd.config))
        if not cfg.image:
            raise UserError(f"{run_dir} is not an image run")
        if method is not None and {method, cfg.method} - {"naign", "naign-"}:
            raise UserError(f"--method {method}: a {cfg.method} run's state continues only as naign or naign-")
        state, notes = rd.load_checkpoint("cpu")
        if state is None:
            raise UserError(notes[0] if notes else f"{rd.checkpoint} does not exist")
        data = load_data(cfg)
    except UserError as exc:
        raise SystemExit(f"error: {exc}") from None
    if steps is not None:
        cfg = cfg.replace(steps=steps)
    if method is not None:
        cfg = cfg.replace(method=method)
    trainer = Trainer([cfg], [data], torch.device("cpu"))
    trainer.load_member_states([state])
    return cfg, trainer
