"""RunConfig: every setting that defines one run, split into what trains the model and what evaluates it.

Identity (as exca's uid): a run's id is the hash of its *training* fields that differ from their defaults, so a
field added later with a default never orphans stored runs. Its evaluation id is the hash of the *evaluation*
fields that differ from their defaults: re-scoring with other settings adds an evaluation beside the old one
instead of overwriting it. `ignbench show-config` prints every field with its group, default and meaning.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any

from ignbench.core import plugins
from ignbench.core.checks import require_type, type_ok
from ignbench.core.errors import UserError

DATASET_KINDS = ("lowdim", "image", "fewshot")
DISTANCES = ("l1", "l2", "mse")
PRIORS = ("gaussian", "fft")
OPTIMIZERS = ("adam", "adamw")
DATASET_EVALUATION = {"image": "generation", "fewshot": "fewshot", "lowdim": "lowdim"}  # a dataset's kind -> its
# evaluation kind (ignbench.evaluate.outputs.EVALUATIONS)

TRAIN, EVAL = "train", "eval"

# Named IGN recipes (DESIGN.md §3). "listing": Source Code 1 of the IGN paper (used for MNIST there).
# "appendix": IGN Appendix C, Table 1 (CelebA). A spec selects one with `recipe` and may override fields.
IGN_RECIPES: dict[str, dict[str, Any]] = {
    "listing": {"distance": "mse", "w_rec": 1.0, "w_idem": 1.0, "w_tight": 0.1, "tight_clamp": 0.0},
    "appendix": {
        "distance": "l1", "w_rec": 20.0, "w_idem": 20.0, "w_tight": 2.5, "tight_clamp": 1.5,
        "optimizer": "adam", "lr": 1e-4, "betas": [0.5, 0.999],
    },
}


def _f(default: Any, doc: str, group: str = TRAIN) -> Any:
    """A documented field; lists get a fresh copy per instance."""
    meta = {"doc": doc, "group": group}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def _required(doc: str) -> Any:
    return field(metadata={"doc": doc, "group": TRAIN})


@dataclass(frozen=True)
class RunConfig:
    """One run: training fields define the model, evaluation fields how it is scored."""

    experiment: str = _required("experiment name: the store folder the run lives in")
    preset: str = _required("preset the run was expanded from (paper, cpu, smoke, ...)")
    method: str = _required("ign, naign or naign- (NAIGN without the idempotence term)")
    dataset: str = _required("mnist, mnist-5k (offline 5k MNIST), celeba, ffhq-100, lfw-100 (its offline stand-in), "
                             "trimodal, 2moons, 8gaussians, grids, fuzzy-2moons")
    seed: int = _required("training seed (weights, batches, noise)")
    steps: int = _required("optimisation steps")
    batch_size: int = _required("mini-batch size N")
    lr: float = _f(1e-4, "learning rate")
    optimizer: str = _f("adamw", "adamw (NAIGN) or adam (IGN appendix)")
    betas: list = _f([0.9, 0.999], "Adam(W) betas")
    weight_decay: float = _f(0.01, "AdamW weight decay (ignored by adam)")
    image_size: int = _f(32, "image side: 28, 32 or 64")
    model_width: int = _f(64, "DCGAN base width (channels of the first conv)")
    latent_dim: int = _f(512, "DCGAN code size")
    hidden: int = _f(512, "MLP hidden units (3 hidden layers)")
    prior: str = _f("gaussian", "noise prior p_Z: gaussian, or fft (IGN's Fourier-statistics prior, images)")
    distance: str = _f("l1", "loss distance: l1 (mean |.|), l2 (Euclidean norm) or mse")
    w_rec: float = _f(1.0, "IGN weight of the reconstruction term")
    w_idem: float = _f(1.0, "IGN weight of the idempotence term")
    w_tight: float = _f(0.1, "IGN weight of the tightness term")
    tight_clamp: float = _f(0.0, "IGN tight clamp ratio a (Eq. 14); 0 = no clamp")
    imle_m: int = _f(0, "IMLE candidates M (0: use imle_m_factor x batch_size)")
    imle_m_factor: float = _f(10.0, "M as a multiple of the batch size")
    imle_chunk: int = _f(1024, "candidates per no-grad search chunk (changes the draw order, hence results)")
    replay_prob: float = _f(0.5, "probability of drawing a stored (x, z*) pair instead of searching")
    replay_capacity: int = _f(16, "mini-batch pairs kept in the replay buffer")
    warmup_steps: int = _f(0, "NAIGN steps with the reconstruction term only (FFHQ-100)")
    autocast_bf16: bool = _f(False, "train under bf16 autocast (a GPU speed option; off: the papers' float32)")
    device: str = _f("cpu", "where the run trains: cpu or cuda. Part of its identity: the same run draws other numbers "
                     "on a GPU (other kernels, and batches and noise drawn on the device)")
    curve_every: int = _f(0, "record key metrics every this many steps (FLD curve, NAIGN Figs 4, 9); 0 = off")
    curve_n_samples: int = _f(1000, "samples (and real points) per point of that curve")
    eval_kind: str = _f("generation", "generation (images), fewshot (ffhq-100, lfw-100) or lowdim (1D/2D data)", EVAL)
    eval_n_samples: int = _f(10000, "generated samples scored at the end", EVAL)
    eval_n_real: int = _f(10000, "real test points scored against (the first n of the test split)", EVAL)
    eval_seed: int = _f(10000, "seed of the evaluation noise z (plus the run's seed)", EVAL)
    eval_batch: int = _f(500, "batch size of f at evaluation (BatchNorm in train mode sees batches this size)",
                         EVAL)
    eval_fid: bool = _f(False, "also FID (InceptionV3) of f(z), f(f(z)); needs the Inception weights", EVAL)
    prdc_k: int = _f(5, "nearest neighbours k of Coverage/Density", EVAL)
    fk_steps: list = _f([1, 2, 3, 5, 10, 20, 50, 100, 200], "k of the f^k(z) stability measures (IGN Fig. 16)",
                        EVAL)
    fk_samples: int = _f(500, "samples iterated for the f^k(z) measures", EVAL)
    degradation_seed: int = _f(20000, "seed of the degraded test set (same images for every run)", EVAL)
    blur_sigma: float = _f(1.0, "Gaussian blur sigma of Table 2 (kernel 2*ceil(3 sigma)+1)", EVAL)
    noise_sigma: float = _f(1.0, "Gaussian noise sigma of Table 2, in [-1, 1] units", EVAL)
    salt_pepper_fraction: float = _f(0.2, "pixels corrupted by salt and pepper", EVAL)
    line_prob: float = _f(0.2, "probability that a row (column) is deleted", EVAL)
    mode_share: float = _f(0.25, "a mode is covered with this share of its fair number of samples within 3 sigma",
                           EVAL)
    coverage_radius: float = _f(0.1, "radius of coverage_r: share of real points with a sample within it (toy data)",
                                EVAL)
    grid_points: int = _f(10000, "drift-vs-distance grid: n points in 1D, sqrt(n) per axis in 2D", EVAL)
    near_threshold: float = _f(1.0, "drift_near: grid points within this distance of the manifold", EVAL)
    eval_projector: bool = _f(False, "also IGN's projections of unseen inputs and its latent-space measures "
                              "(IGN Figs 5, 6; images)", EVAL)
    ood_noise_sigma: float = _f(0.15, "sigma of IGN's noisy input x + n (Appendix C), in [-1, 1] units", EVAL)
    sketch_kernel: int = _f(21, "Gaussian kernel of IGN's sketch s(x) (Appendix C; odd)", EVAL)
    interp_pairs: int = _f(64, "interpolation paths scored (pairs of z, and of real images)", EVAL)
    interp_steps: int = _f(9, "images per interpolation path, ends included", EVAL)
    arithmetic_triplets: int = _f(500, "latent-arithmetic edits f(z+ - z- + z) scored (digits)", EVAL)
    copy_ratio: float = _f(0.5, "few-shot: a sample copies a training image when that image is nearer than this "
                            "times the second nearest", EVAL)
    projection_points: int = _f(441, "points of the projection-map figure (sqrt(n) per axis in 2D)", EVAL)

    @property
    def resolved_imle_m(self) -> int:
        """M, the number of IMLE candidates: `imle_m` if set, else `imle_m_factor` x batch."""
        return self.imle_m if self.imle_m > 0 else int(round(self.imle_m_factor * self.batch_size))

    @property
    def image(self) -> bool:
        return dataset_entry(self.dataset).kind != "lowdim"

    @property
    def channels(self) -> int:
        """Image channels: 3 for RGB sets, else 1."""
        return getattr(dataset_entry(self.dataset), "channels", 1)

    @functools.cached_property
    def run_id(self) -> str:
        """The run's identity in the store and on the cluster: hash of its non-default training fields (computed
        once: a training loop asks for it every step)."""
        return _digest(self.to_dict(), TRAIN)

    @functools.cached_property
    def eval_id(self) -> str:
        """The identity of its evaluation: hash of the non-default evaluation fields."""
        return _digest(self.to_dict(), EVAL)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> RunConfig:
        if not isinstance(data, dict):
            raise UserError(f"{source}: a run config must be a table, got {type(data).__name__}")
        check_keys(data, source)
        missing = [f.name for f in fields(cls) if f.name not in data and _is_required(f)]
        if missing:
            raise UserError(f"{source}: missing required field(s) {', '.join(missing)}")
        for name, value in data.items():
            check_type(name, value, source)
        cfg = cls(**coerce_floats(data))
        cfg.validate(source)
        return cfg

    def validate(self, source: str = "config") -> None:
        """Raise UserError naming the first bad field (method-specific rules: `ignbench.methods.check_method`)."""
        for f in fields(self):
            check_type(f.name, getattr(self, f.name), source)
        _check_choices(self, source)
        _check_numbers(self, source)
        _check_combinations(self, source)


DEVICES = ("cpu", "cuda")
CHOICES = {"device": DEVICES, "distance": DISTANCES, "prior": PRIORS, "optimizer": OPTIMIZERS}
# (lower bound, inclusive?) and a sane upper bound of every numeric field: a spec with 1e15 steps or a batch of
# 2**63 is a typo, refused when it loads, not a job that runs for ever or a traceback.
BIG = 10**6
RANGES: dict[str, tuple[float, bool, float]] = {
    **{name: (0, False, top) for name, top in (
        ("steps", 10**7), ("batch_size", 65536), ("eval_n_samples", BIG), ("eval_n_real", BIG), ("imle_chunk", BIG),
        ("hidden", 16384), ("model_width", 1024), ("latent_dim", 16384), ("image_size", 64),
        ("replay_capacity", 10**5), ("curve_n_samples", BIG), ("eval_batch", 65536), ("prdc_k", 1000),
        ("fk_samples", 10**5), ("grid_points", 10**7), ("projection_points", BIG), ("lr", 10.0),
        ("coverage_radius", 1e6), ("ood_noise_sigma", 100.0), ("interp_pairs", 10**4), ("arithmetic_triplets", 10**5),
        ("interp_steps", 1000), ("sketch_kernel", 1001))},
    **{name: (0, True, top) for name, top in (
        ("seed", 2**31), ("warmup_steps", 10**7), ("imle_m", 10**7), ("imle_m_factor", 10**4), ("tight_clamp", 1e6),
        ("weight_decay", 1e3), ("w_rec", 1e6), ("w_idem", 1e6), ("w_tight", 1e6), ("curve_every", 10**7),
        ("eval_seed", 2**31), ("degradation_seed", 2**31), ("blur_sigma", 100.0), ("noise_sigma", 100.0),
        ("near_threshold", 1e6))},
    **{name: (0, True, 1.0) for name in ("replay_prob", "salt_pepper_fraction", "line_prob", "mode_share",
                                         "copy_ratio")},
}


def datasets() -> dict[str, Any]:
    """Every registered dataset (entry points of group ignbench.datasets; the built-ins are `ignbench.data`'s
    ToyDistribution and ImageSet objects): name -> entry, whose `kind` is lowdim, image or fewshot. The config needs
    only those facts, so it reads them through the registry, not from the data stage."""
    return plugins.load("datasets", _check_dataset)


def _check_dataset(entry: Any) -> str:
    kind = getattr(entry, "kind", None)
    if kind not in DATASET_KINDS:
        return f"a dataset's kind must be one of {', '.join(DATASET_KINDS)}, got {kind!r}"
    needs = ("sample", "manifold_distance", "dim", "centers") if kind == "lowdim" else ("load", "channels")
    missing = [a for a in needs if not _has(entry, a)]
    return f"a {kind} dataset needs {', '.join(missing)}" if missing else ""


def _has(entry: Any, attribute: str) -> bool:
    """Whether an entry has an attribute, without computing it (a property may load torch)."""
    try:
        inspect.getattr_static(entry, attribute)
    except AttributeError:
        return False
    return True


def dataset_entry(name: str) -> Any:
    registry = datasets()
    if name not in registry:
        raise plugins.unknown("datasets", name, list(registry), "dataset")
    return registry[name]


def _check_choices(cfg: RunConfig, source: str) -> None:
    if cfg.dataset not in datasets():
        raise plugins.unknown("datasets", cfg.dataset, list(datasets()), f"{source}: dataset")
    for name, allowed in CHOICES.items():
        if getattr(cfg, name) not in allowed:
            raise UserError(f"{source}: {name} = {getattr(cfg, name)!r} is not one of {', '.join(allowed)}")


def _check_numbers(cfg: RunConfig, source: str) -> None:
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if any(isinstance(v, float) and not math.isfinite(v) for v in (value if isinstance(value, list) else [value])):
            raise UserError(f"{source}: {f.name} must be finite, got {value}")
    for name, (low, inclusive, high) in RANGES.items():
        value = getattr(cfg, name)
        if value < low or (value == low and not inclusive) or value > high:
            bracket = "[" if inclusive else "("
            top = f"{high:,}" if isinstance(high, int) else f"{high:g}"
            raise UserError(f"{source}: {name} must lie in {bracket}{low:g}, {top}], got {value}")
    if len(cfg.betas) != 2 or not all(0.0 <= b < 1.0 for b in cfg.betas):
        raise UserError(f"{source}: betas must be two numbers in [0, 1), got {cfg.betas}")
    if not cfg.fk_steps or any(k < 1 or k > 10**5 for k in cfg.fk_steps):
        raise UserError(f"{source}: fk_steps must be a non-empty list of integers in [1, 100000], got {cfg.fk_steps}")
    if cfg.image_size not in (28, 32, 64):
        raise UserError(f"{source}: image_size must be 28, 32 or 64, got {cfg.image_size}")
    if cfg.interp_steps < 3:
        raise UserError(f"{source}: interp_steps must be at least 3, got {cfg.interp_steps}")
    if cfg.sketch_kernel % 2 == 0:
        raise UserError(f"{source}: sketch_kernel must be a positive odd integer, got {cfg.sketch_kernel}")


def _check_combinations(cfg: RunConfig, source: str) -> None:
    """Fields that must agree with the dataset and with each other."""
    needs_images = [name for name, on in (("prior 'fft'", cfg.prior == "fft"), ("eval_projector", cfg.eval_projector),
                                          ("eval_fid", cfg.eval_fid)) if on]
    if needs_images and not cfg.image:
        raise UserError(f"{source}: {needs_images[0]} needs an image dataset, not {cfg.dataset!r}")
    if cfg.curve_every and cfg.eval_kind == "fewshot":
        raise UserError(f"{source}: curve_every needs a generation or lowdim evaluation, not fewshot")
    if cfg.channels > 1 and cfg.eval_kind == "generation" and not cfg.eval_fid:
        raise UserError(f"{source}: {cfg.dataset} is scored by FID (InceptionV3): set eval_fid = true")
    expected_kind = DATASET_EVALUATION[dataset_entry(cfg.dataset).kind]
    if cfg.eval_kind != expected_kind:
        raise UserError(f"{source}: eval_kind {cfg.eval_kind!r} does not fit dataset {cfg.dataset!r}")


FIELDS = {f.name: f for f in fields(RunConfig)}
FIELD_TYPES = {name: f.type for name, f in FIELDS.items()}
LIST_ITEM_TYPES = {"betas": "float", "fk_steps": "int"}


def _is_required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def default_of(name: str) -> Any:
    f = FIELDS[name]
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def canonical(values: dict[str, Any]) -> dict[str, Any]:
    """One form for equal runs: M given as `imle_m` is written as its multiple of the batch when that multiple gives
    the same M back, so `imle_m = 320` at batch 32 and the default `imle_m_factor = 10` are one run, with one id."""
    out = dict(values)
    m, batch = out.get("imle_m", 0), out.get("batch_size", 0)
    if m > 0 and batch > 0 and int(round(m / batch * batch)) == m:
        out["imle_m"], out["imle_m_factor"] = 0, m / batch
    return out


def _digest(values: dict[str, Any], group: str) -> str:
    """sha256 (12 hex digits) of the fields of `group` that are required or differ from their default, in the
    canonical form."""
    hashed = {k: v for k, v in canonical(values).items()
              if FIELDS[k].metadata["group"] == group and v != default_of(k)}
    return hashlib.sha256(json.dumps(hashed, sort_keys=True).encode()).hexdigest()[:12]


def check_keys(data: dict[str, Any], source: str) -> None:
    unknown = sorted(set(data) - set(FIELD_TYPES))
    if unknown:
        raise UserError(f"{source}: unknown key {unknown[0]!r} (see `ignbench show-config`)")


def check_type(name: str, value: Any, source: str) -> None:
    """Check one field's value against its declared type (TOML gives int, float, str, bool, list)."""
    require_type(source, name, value, FIELD_TYPES[name])
    if FIELD_TYPES[name] == "list":
        item = LIST_ITEM_TYPES[name]
        if not all(type_ok(v, item) for v in value):
            raise UserError(f"{source}: {name} must be a list of {'integers' if item == 'int' else 'numbers'}")


def coerce_floats(data: dict[str, Any]) -> dict[str, Any]:
    """TOML writes 1 and 1.0 differently; make float fields floats so that equal configs hash equally."""
    out = dict(data)
    for key, value in data.items():
        kind = FIELD_TYPES.get(key)
        if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            out[key] = float(value)
        if kind == "list" and LIST_ITEM_TYPES[key] == "float" and isinstance(value, list):
            out[key] = [float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
    return out


def describe_fields() -> list[tuple[str, str, str, str, str]]:
    """(name, group, type, default, meaning) of every field: the spec-key reference of `show-config`."""
    rows = []
    for name, f in FIELDS.items():
        default = default_of(name)
        shown = "required" if default is dataclasses.MISSING else json.dumps(default)
        rows.append((name, f.metadata["group"], str(f.type), shown, f.metadata["doc"]))
    return rows
