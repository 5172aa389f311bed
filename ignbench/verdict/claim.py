"""A claim of a paper as the verdict stage sees it: what is compared, on which sides, by which kind of test.
`ignbench.spec.claims` builds them from a spec's `[[claims]]` and validates them against its runs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ignbench.core.measures import MEASURES
from ignbench.evaluate.metrics.collapse import STALL_THRESHOLD
from ignbench.verdict.kinds import KINDS, ClaimKind


@dataclass(frozen=True)
class Side:
    method: str
    application: str
    where: tuple[tuple[str, Any], ...] = ()  # swept fields pinned to one value

    def describe(self) -> str:
        pins = "".join(f", {k} = {v:g}" if isinstance(v, float) else f", {k} = {v}" for k, v in self.where)
        return f"{self.method} {self.application}{pins}"


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    kind: str
    metric: str
    a: Side
    b: Side | None = None
    dataset: str | None = None
    margin: float = math.nan
    threshold: float = math.nan
    sweep: str = ""
    source: str = ""
    paper: str = ""
    share: float = 0.5
    stall_threshold: float = STALL_THRESHOLD  # its spec's (run health: `evaluate.metrics.collapse.is_collapsed`)

    @property
    def higher_is_better(self) -> bool:
        return MEASURES[self.metric].higher_is_better

    @property
    def spec_kind(self) -> ClaimKind:
        return KINDS[self.kind]

    @property
    def sides(self) -> list[Side]:
        return [self.a] if self.b is None else [self.a, self.b]
