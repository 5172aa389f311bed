"""RunConfig: every setting that defines one training + evaluation run, and nothing else.

Two runs with equal RunConfigs are the same run (same run id), wherever they execute. Fields added after runs
were first stored (LATE_FIELDS) enter the run id only when set away from their default, so adding a field never
orphans the runs already in a store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Any

from ignbench.checks import require_type, type_ok
from ignbench.errors import UserError

METHODS = ("ign", "naign", "naign-")
IMAGE_DATASETS = ("mnist", "mnist-5k")
TOY_DATASETS = ("trimodal", "2moons", "8gaussians", "grids", "fuzzy-2moons")
DATASETS = IMAGE_DATASETS + TOY_DATASETS
DISTANCES = ("l1", "l2", "mse")
PRIORS = ("gaussian", "fft")
OPTIMIZERS = ("adam", "adamw")
EVAL_KINDS = ("generation", "lowdim")
BN_MODES = ("train", "eval")

# Named IGN recipes (DESIGN.md §3). "listing": Source Code 1 of the IGN paper (used for MNIST there).
# "appendix": IGN Appendix C, Table 1 (CelebA). A spec selects one with `ign_recipe` and may override fields.
IGN_RECIPES: dict[str, dict[str, Any]] = {
    "listing": {"distance": "mse", "w_rec": 1.0, "w_idem": 1.0, "w_tight": 0.1, "tight_clamp": 0.0},
    "appendix": {
        "distance": "l1", "w_rec": 20.0, "w_idem": 20.0, "w_tight": 2.5, "tight_clamp": 1.5,
        "optimizer": "adam", "lr": 1e-4, "betas": [0.5, 0.999],
    },
}


@dataclass(frozen=True)
class RunConfig:
    """One run. Field docs double as the spec reference (see `ignbench show-config`)."""

    experiment: str
    preset: str
    method: str
    dataset: str
    seed: int
    steps: int
    batch_size: int
    lr: float = 1e-4
    optimizer: str = "adamw"
    betas: list = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.01
    image_size: int = 32
    model_width: int = 64
    latent_dim: int = 512
    hidden: int = 512
    prior: str = "gaussian"
    distance: str = "l1"
    w_rec: float = 1.0
    w_idem: float = 1.0
    w_tight: float = 0.1
    tight_clamp: float = 0.0
    imle_m: int = 0
    imle_m_factor: float = 10.0
    imle_chunk: int = 1024
    replay_prob: float = 0.5
    replay_capacity: int = 16
    warmup_steps: int = 0
    eval_kind: str = "generation"
    eval_n_samples: int = 10000
    eval_n_real: int = 10000
    eval_bn_mode: str = "eval"
    curve_every: int = 0  # FLD of f(z) every this many steps (NAIGN Figs 4 and 9); 0 = off
    curve_n_samples: int = 1000  # samples (and test images) per point of that curve
    eval_fid: bool = False  # also FID (InceptionV3 features) of f(z) and f(f(z)); needs the Inception weights

    @property
    def resolved_imle_m(self) -> int:
        """M, the number of IMLE candidates: `imle_m` if set, else `imle_m_factor` x batch."""
        return self.imle_m if self.imle_m > 0 else int(round(self.imle_m_factor * self.batch_size))

    @property
    def run_id(self) -> str:
        """Content hash of the resolved config: the run's identity in the store and on the cluster."""
        hashed = {k: v for k, v in self.to_dict().items() if LATE_FIELDS.get(k, MISSING) != v}
        blob = json.dumps(hashed, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> RunConfig:
        check_keys(data, source)
        missing = [f.name for f in fields(cls) if f.name not in data and _is_required(f)]
        if missing:
            raise UserError(f"{source}: missing required field(s) {', '.join(missing)}")
        cfg = cls(**data)
        cfg.validate(source)
        return cfg

    def validate(self, source: str = "config") -> None:
        """Raise UserError naming the first bad field."""
        for f in fields(self):
            check_type(f.name, getattr(self, f.name), source)
        choices = {
            "method": METHODS, "dataset": DATASETS, "distance": DISTANCES, "prior": PRIORS,
            "optimizer": OPTIMIZERS, "eval_kind": EVAL_KINDS, "eval_bn_mode": BN_MODES,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise UserError(
                    f"{source}: {name} = {getattr(self, name)!r} is not one of {', '.join(allowed)}"
                )
        positive = ("steps", "batch_size", "eval_n_samples", "eval_n_real", "imle_chunk", "hidden",
                    "model_width", "latent_dim", "image_size", "replay_capacity", "curve_n_samples")
        for name in positive:
            if getattr(self, name) <= 0:
                raise UserError(f"{source}: {name} must be positive, got {getattr(self, name)}")
        non_negative = ("lr", "seed", "warmup_steps", "imle_m", "imle_m_factor", "tight_clamp",
                        "weight_decay", "w_rec", "w_idem", "w_tight", "curve_every")
        for name in non_negative:
            if getattr(self, name) < 0:
                raise UserError(f"{source}: {name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.replay_prob <= 1.0:
            raise UserError(f"{source}: replay_prob must lie in [0, 1], got {self.replay_prob}")
        if len(self.betas) != 2:
            raise UserError(f"{source}: betas must be a list of two numbers")
        if self.image_size not in (28, 32, 64):
            raise UserError(f"{source}: image_size must be 28, 32 or 64, got {self.image_size}")
        if self.method != "ign" and self.resolved_imle_m <= 0:
            raise UserError(f"{source}: IMLE needs M > 0 (imle_m or imle_m_factor)")
        if self.prior == "fft" and self.dataset not in IMAGE_DATASETS:
            raise UserError(f"{source}: prior 'fft' needs an image dataset, not {self.dataset!r}")
        if self.eval_fid and self.dataset not in IMAGE_DATASETS:
            raise UserError(f"{source}: eval_fid needs an image dataset, not {self.dataset!r}")
        if self.curve_every > 0 and self.dataset not in IMAGE_DATASETS:
            raise UserError(f"{source}: curve_every (an FLD curve) needs an image dataset, not {self.dataset!r}")
        expected_kind = "generation" if self.dataset in IMAGE_DATASETS else "lowdim"
        if self.eval_kind != expected_kind:
            raise UserError(f"{source}: eval_kind {self.eval_kind!r} does not fit dataset {self.dataset!r}")


FIELD_TYPES = {f.name: f.type for f in fields(RunConfig)}
MISSING = object()
# Fields added after the first stored runs, with their defaults: hashed into run ids only when set otherwise.
LATE_FIELDS: dict[str, Any] = {"curve_every": 0, "curve_n_samples": 1000, "eval_fid": False}


def _is_required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def check_keys(data: dict[str, Any], source: str) -> None:
    unknown = sorted(set(data) - set(FIELD_TYPES))
    if unknown:
        raise UserError(f"{source}: unknown key {unknown[0]!r}")


def check_type(name: str, value: Any, source: str) -> None:
    """Check one field's value against its declared type (TOML gives int, float, str, list)."""
    require_type(source, name, value, FIELD_TYPES[name])
    if FIELD_TYPES[name] == "list" and not all(type_ok(v, "float") for v in value):
        raise UserError(f"{source}: {name} must be a list of numbers")
