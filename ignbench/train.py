"""The training loop: seeded, checkpointed, resumable, NaN-aware. One call trains and evaluates one run."""

from __future__ import annotations

import csv
import io
import math
import platform
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ignbench import objectives
from ignbench.config import RunConfig
from ignbench.data import Data, load_data
from ignbench.models import build_model
from ignbench.noise import Prior
from ignbench.store import RunDir, Store, atomic_torch_save, atomic_write_bytes, atomic_write_json

DEFAULT_CHECKPOINT_EVERY = 500


class BatchSampler:
    """Mini-batches: epochs of random permutations of a finite set, or fresh draws from a toy distribution."""

    def __init__(self, data: Data, batch_size: int):
        self.data = data
        self.batch_size = batch_size
        self.perm = torch.empty(0, dtype=torch.long)
        self.pos = 0

    def next(self, g: torch.Generator) -> torch.Tensor:
        if self.data.toy is not None:
            return self.data.toy.sample(self.batch_size, g)
        n = len(self.data.train)
        if self.pos + self.batch_size > len(self.perm):
            self.perm = torch.randperm(n, generator=g)
            self.pos = 0
        idx = self.perm[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        return self.data.train[idx]

    def state_dict(self) -> dict:
        return {"perm": self.perm, "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.perm, self.pos = state["perm"], state["pos"]


class Trainer:
    """Holds everything one run's training needs; `step()` does one optimisation step."""

    def __init__(self, cfg: RunConfig, data: Data, device: torch.device):
        self.cfg = cfg
        self.data = data
        self.device = device
        torch.manual_seed(cfg.seed)
        self.g = torch.Generator().manual_seed(cfg.seed)
        self.model = build_model(cfg, data.train.shape[-1]).to(device)
        self.prior = Prior.fit(cfg.prior, data.train)
        self.sampler = BatchSampler(data, cfg.batch_size)
        self.replay = objectives.ReplayBuffer(cfg.replay_capacity)
        opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        kwargs = {"weight_decay": cfg.weight_decay} if cfg.optimizer == "adamw" else {}
        self.opt = opt_cls(self.model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas), **kwargs)
        self.step_done = 0
        self.log: list[dict[str, float]] = []
        self.curve: list[dict[str, float]] = []  # FLD during training, when cfg.curve_every > 0

    def sample_z(self, n: int) -> torch.Tensor:
        return self.prior.sample(n, self.g).to(self.device)

    def losses(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg = self.cfg
        if cfg.method == "ign":
            terms = objectives.ign_terms(self.model, x, self.sample_z(len(x)), cfg)
            return objectives.ign_loss(terms, cfg), terms
        x_imle, z_star = self.imle_pair(x)
        z = self.sample_z(len(x))
        terms = objectives.naign_terms(self.model, x, x_imle, z_star, z, cfg, with_idem=cfg.method == "naign")
        return objectives.naign_loss(terms, cfg, warm=self.step_done < cfg.warmup_steps), terms

    def imle_pair(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        use_replay = bool(self.replay.pairs) and float(torch.rand(1, generator=self.g)) < self.cfg.replay_prob
        if use_replay:
            x_old, z_old = self.replay.draw(self.g)
            return x_old.to(self.device), z_old.to(self.device)
        z_star = objectives.imle_nearest(self.model, x, self.sample_z, self.cfg.resolved_imle_m,
                                         self.cfg.imle_chunk, self.cfg.distance)
        self.replay.push(x.cpu(), z_star.cpu())
        return x, z_star

    def step(self) -> dict[str, float]:
        """One optimisation step; returns the logged values (loss is NaN/inf when the run diverged)."""
        self.model.train()
        x = self.sampler.next(self.g).to(self.device)
        loss, terms = self.losses(x)
        row = {"step": self.step_done + 1, "loss": loss.item()}
        row.update({k: v.item() for k, v in terms.items()})
        if not math.isfinite(row["loss"]):
            return row
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step_done += 1
        return row

    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(), "opt": self.opt.state_dict(), "g": self.g.get_state(),
            "torch_rng": torch.get_rng_state(), "sampler": self.sampler.state_dict(),
            "replay": self.replay.state_dict(), "prior": self.prior.state_dict(),
            "step": self.step_done, "log": self.log, "curve": self.curve, "config": self.cfg.to_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.g.set_state(state["g"])
        torch.set_rng_state(state["torch_rng"])
        self.sampler.load_state_dict(state["sampler"])
        self.replay.load_state_dict(state["replay"])
        self.prior = Prior.from_state_dict(state["prior"])
        self.step_done = state["step"]
        self.log = list(state["log"])
        self.curve = list(state.get("curve", []))


def write_log(rows: list[dict[str, float]], path: Path) -> None:
    if not rows:
        return
    out = io.StringIO()
    keys = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(out, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, out.getvalue().encode())


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def environment() -> dict[str, str | int]:
    """Where and with what a run trained; the CPU thread count changes float summation order, hence results."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return {"host": socket.gethostname(), "git_sha": sha, "torch": torch.__version__,
            "python": platform.python_version(), "torch_threads": torch.get_num_threads()}


def train_run(cfg: RunConfig, store: Store, data_root: Path | None = None,
              checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY, progress: bool = True,
              on_step: Callable[[int], None] | None = None, extra_status: dict | None = None) -> str:
    """Train (resuming from a checkpoint if one exists) and evaluate one run. Returns its final state."""
    rd = store.run_dir(cfg)
    device = pick_device()
    store.write_status(cfg, state="running", device=str(device), started=time.time(), error=None,
                       **environment(), **(extra_status or {}))
    data = load_data(cfg, data_root)
    trainer = Trainer(cfg, data, device)
    if rd.checkpoint.exists():
        trainer.load_state_dict(torch.load(rd.checkpoint, map_location=device, weights_only=False))
        resumes = store.status(cfg).get("resumed_from_steps", [])
        store.write_status(cfg, resumed_from_steps=[*resumes, trainer.step_done])
    log_every = max(1, cfg.steps // 200)
    curve = None
    if cfg.curve_every > 0:
        from ignbench.evaluate import FLDCurve

        curve = FLDCurve(cfg, trainer.prior, data.test)
    bar = tqdm(total=cfg.steps, initial=trainer.step_done, disable=not progress, leave=False,
               desc=f"{cfg.method} {cfg.dataset} seed {cfg.seed}", unit="step")
    while trainer.step_done < cfg.steps:
        row = trainer.step()
        if not math.isfinite(row["loss"]):
            trainer.log.append(row)
            write_log(trainer.log, rd.log)
            store.write_status(cfg, state="diverged", step=row["step"], finished=time.time(),
                               error=f"non-finite loss {row['loss']} at step {row['step']}")
            bar.close()
            return "diverged"
        if trainer.step_done % log_every == 0 or trainer.step_done == cfg.steps:
            trainer.log.append(row)
            bar.set_postfix(loss=f"{row['loss']:.4g}")
        bar.update(1)
        if curve is not None and (trainer.step_done % cfg.curve_every == 0 or trainer.step_done == cfg.steps):
            trainer.curve.append({"step": trainer.step_done, "fld": curve.point(trainer.model)})
        if trainer.step_done % checkpoint_every == 0 or trainer.step_done == cfg.steps:
            atomic_torch_save(trainer.state_dict(), rd.checkpoint)
            write_log(trainer.log, rd.log)
            write_log(trainer.curve, rd.curve)
            store.write_status(cfg, step=trainer.step_done)
        if on_step is not None:
            on_step(trainer.step_done)
    bar.close()
    write_evaluation(cfg, trainer, data, rd)
    store.write_status(cfg, state="done", step=trainer.step_done, finished=time.time())
    return "done"


def write_evaluation(cfg: RunConfig, trainer: Trainer, data: Data, rd: RunDir) -> None:
    from ignbench.evaluate import evaluate_run

    metrics = evaluate_run(cfg, trainer.model, data, trainer.prior, rd)
    atomic_write_json(rd.eval, {"metrics": metrics, "eval_bn_mode": cfg.eval_bn_mode})


def reevaluate_run(cfg: RunConfig, store: Store, data_root: Path | None = None) -> None:
    """Evaluate a finished run again from its final checkpoint (new metrics or figures, no retraining)."""
    rd = store.run_dir(cfg)
    data = load_data(cfg, data_root)
    trainer = Trainer(cfg, data, pick_device())
    trainer.load_state_dict(torch.load(rd.checkpoint, map_location=trainer.device, weights_only=False))
    write_evaluation(cfg, trainer, data, rd)

