"""Run each planned run in this process, one after another; a failure is recorded and the sweep goes on."""

from __future__ import annotations

import time
import traceback
from pathlib import Path

from tqdm.auto import tqdm

from ignbench.config import RunConfig
from ignbench.errors import UserError
from ignbench.store import Store
from ignbench.train import train_run


def run_one(cfg: RunConfig, store: Store, data_root: Path | None, checkpoint_every: int, progress: bool,
            extra_status: dict | None = None) -> str:
    """Train + evaluate one run; any exception becomes state `failed` with its message and traceback."""
    try:
        return train_run(cfg, store, data_root, checkpoint_every, progress, extra_status=extra_status)
    except (KeyboardInterrupt, SystemExit):
        store.write_status(cfg, state="interrupted", error="interrupted; rerun the command to resume")
        raise
    except UserError as exc:
        store.write_status(cfg, state="failed", error=str(exc), finished=time.time())
        return "failed"
    except Exception as exc:  # a crashed run must not stop the sweep
        store.write_status(cfg, state="failed", error=f"{exc.__class__.__name__}: {exc}",
                           traceback=traceback.format_exc(), finished=time.time())
        return "failed"


def run_local(runs: list[RunConfig], store: Store, data_root: Path | None, checkpoint_every: int,
              progress: bool = True) -> dict[str, str]:
    results = {}
    for cfg in tqdm(runs, desc="runs", unit="run", disable=not progress):
        results[cfg.run_id] = run_one(cfg, store, data_root, checkpoint_every, progress)
    return results
