"""The methods, in one registry: a method is one `Method` object, registered as an entry point of the group
`ignbench.methods` (ignbench's own in its pyproject.toml, a researcher's in theirs; see `ignbench.core.plugins`).

Each entry says how to turn a batch into its loss terms, how to weigh them, whether its step needs an IMLE
nearest-neighbour search, how it is labelled in reports, and what one step costs (for --dry-run).
"""

from __future__ import annotations

from typing import Any

from ignbench.core import plugins
from ignbench.core.config import RunConfig
from ignbench.core.errors import UserError
from ignbench.methods.base import Batch, Method, Terms

PAPER_ORDER = ("ign", "naign", "naign-")  # tables and legends: the papers' order, then plugins by name
BUILT_IN = PAPER_ORDER


def _check(obj: Any) -> str:
    return "" if isinstance(obj, Method) else f"not an ignbench.methods.Method but a {type(obj).__name__}"


METHODS: dict[str, Method] = plugins.load("methods", _check)
LABELS = {name: m.label for name, m in METHODS.items()}
_PROBED: set[str] = set()


def check_method(cfg: RunConfig, source: str) -> None:
    """The method-specific rules of a run's config (a one-line UserError naming the field); a plugin's method is
    also tried once on a small batch, so that a broken one fails when its spec loads, not mid-run."""
    if cfg.method not in METHODS:
        raise plugins.unknown("methods", cfg.method, list(METHODS), f"{source}: method")
    if METHODS[cfg.method].imle and cfg.resolved_imle_m <= 0:
        raise UserError(f"{source}: IMLE needs M > 0 (imle_m or imle_m_factor)")
    if cfg.method not in _PROBED and cfg.method not in BUILT_IN:  # ignbench's own are tested by its test suite
        probe(METHODS[cfg.method], cfg)
        _PROBED.add(cfg.method)


def probe(method: Method, cfg: RunConfig) -> None:
    """Run the method's terms and loss on 4 random points of a small MLP: they must give finite tensors."""
    import torch

    from ignbench.methods.models import MLP

    g = torch.Generator().manual_seed(0)
    points = [torch.randn(4, 2, generator=g) for _ in range(4)]
    try:
        terms = method.terms(MLP(2, 8), Batch(*points), cfg.replace(distance="l2"))
        bad = [k for k, v in terms.items() if not isinstance(v, torch.Tensor)] if isinstance(terms, dict) else [""]
        if bad:
            raise TypeError(f"terms must be a dict of tensors, got {type(terms).__name__}"
                            + (f" with {bad[0]!r} a {type(terms[bad[0]]).__name__}" if bad[0] else ""))
        loss = method.loss(terms, cfg, False)
        if not isinstance(loss, torch.Tensor):
            raise TypeError(f"loss must be a tensor, got {type(loss).__name__}")
    except Exception as exc:  # noqa: BLE001 - any failure of a plugin's code is its author's to see, in one line
        message = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise UserError(f"method {method.name!r}: {message} (on a probe batch)") from None


def method_order(name: str) -> int:
    """Position in the papers' order (IGN, NAIGN, NAIGN-), then the plugins'."""
    return PAPER_ORDER.index(name) if name in PAPER_ORDER else len(PAPER_ORDER) + sorted(METHODS).index(name)


__all__ = ["Batch", "LABELS", "METHODS", "Method", "Terms", "check_method", "method_order", "probe"]
