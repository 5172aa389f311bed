"""The verdicts as pictures: a forest plot per experiment (each claim's standardised effect with its interval,
against zero and its equivalence margin, BatchNorm modes side by side), and strip plots of the per-seed values
behind each claim. A verdict is never shown by colour alone: each has its own marker and its letter."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ignbench.core.measures import label  # noqa: E402
from ignbench.report.png import save_figure  # noqa: E402
from ignbench.report.scorecard import seeds_note  # noqa: E402
from ignbench.verdict.decide import Decision, claim_points  # noqa: E402
from ignbench.verdict.health import HEALTHY  # noqa: E402

LIMIT = 6.0  # effects (and interval ends) beyond +-LIMIT are drawn at the edge, with an arrow
STYLE = {  # verdict -> (colour, marker, letter)
    "reproduced": ("#1e8449", "o", "R"), "contradicted": ("#c0392b", "X", "C"),
    "inconclusive": ("#7f8c8d", "D", "I"), "insufficient": ("#bbbbbb", "", "–"),
}
HEALTH_MARK = {HEALTHY: ("o", "healthy"), "stalled": ("x", "stalled"), "not converged": ("^", "not converged"),
               "diverged": ("s", "diverged"), "unknown": ("o", "health unknown")}
Figure = tuple[Path, str]


def _clip(value: float) -> float:
    return max(-LIMIT, min(LIMIT, value)) if math.isfinite(value) else math.copysign(LIMIT, value)


def _margin(d: Decision) -> float | None:
    """A similar claim's margin in the effect's units (margin / standardising spread), or None."""
    o = d.outcome
    if d.claim.kind != "similar" or not o.tested or not math.isfinite(o.effect) or o.estimate == 0:
        return None
    scale = o.estimate / o.effect
    return d.claim.margin / abs(scale) if scale else None


def forest_figure(decisions: list[Decision], out: Path, name: str) -> list[Figure]:
    """One row per claim, one panel per BatchNorm mode; an empty plot with a note when nothing was tested."""
    modes = list(dict.fromkeys(d.bn_mode for d in decisions)) or ["none"]
    claims = list(dict.fromkeys(d.claim.id for d in decisions))
    fig, axes = plt.subplots(1, len(modes), figsize=(4.4 * len(modes) + 2.6, 0.34 * max(len(claims), 2) + 1.2),
                             squeeze=False, sharey=True)
    for ax, mode in zip(axes[0], modes, strict=True):
        _forest_panel(ax, [d for d in decisions if d.bn_mode == mode], claims)
        ax.set_title(f"BatchNorm {mode}" if mode != "none" else "no BatchNorm (MLP)", fontsize=9)
    axes[0][0].set_yticks(range(len(claims)), claims, fontsize=8)
    axes[0][0].invert_yaxis()
    if not any(d.outcome.tested for d in decisions):
        why = "no finished runs" if not any(d.finished for d in decisions) else "every claim is insufficient"
        axes[0][0].text(0, (len(claims) - 1) / 2 if claims else 0, f"no claim could be tested\n({why})",
                        ha="center", va="center", fontsize=9, color="#555")
    handles = [plt.Line2D([], [], color=c, marker=m or "s", linestyle="", markersize=7 if m else 0,
                          label=f"{letter}: {v}") for v, (c, m, letter) in STYLE.items()]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(f"{name}: effect in the claim's direction with its 90 % interval (> 0 supports the claim)",
                 fontsize=10, y=1.0)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    path = save_figure(fig, out / f"{name}_forest.png")
    alt = (f"Forest plot of the {len(claims)} claims of {name}: each claim's standardised effect and 90 % interval, "
           "marked R (reproduced), C (contradicted), I (inconclusive) or – (insufficient).")
    return [(path, alt)]


def _forest_panel(ax: plt.Axes, decisions: list[Decision], claims: list[str]) -> None:
    ax.axvline(0, color="black", linewidth=0.8)
    for d in decisions:
        y = claims.index(d.claim.id)
        o = d.outcome
        colour, marker, letter = STYLE[d.verdict]
        margin = _margin(d)
        if margin is not None:
            ax.fill_betweenx([y - 0.35, y + 0.35], -min(margin, LIMIT), min(margin, LIMIT), color="#d6eaf8", zorder=0)
        if o.tested and math.isfinite(o.effect):
            low, high = (_clip(v) for v in o.effect_ci)
            ax.plot([low, high], [y, y], color=colour, linewidth=1.6)
            ax.plot(_clip(o.effect), y, marker=marker or "s", color=colour, markersize=6, linestyle="")
            for end, value in ((low, o.effect_ci[0]), (high, o.effect_ci[1])):
                if abs(end) == LIMIT and (not math.isfinite(value) or abs(value) > LIMIT):
                    ax.annotate("", (end, y), (end - math.copysign(0.4, end), y),
                                arrowprops={"arrowstyle": "->", "color": colour})
        note = seeds_note(d) if d.verdict == "inconclusive" else ""
        needs = f" needs {note.split(' (')[0]}" if note else ""
        ax.text(LIMIT + 0.3, y, f"{letter}{needs}", va="center", fontsize=8, color=colour if letter != "–" else "#777")
    ax.set_xlim(-LIMIT, LIMIT + 3.2)
    ax.set_xticks([-6, -4, -2, 0, 2, 4, 6])
    ax.set_xlabel("standardised effect (Hedges' g; ρ for trends; share difference for counts)", fontsize=7)
    ax.grid(axis="x", color="#eee")


def strip_figure(decisions: list[Decision], results: pd.DataFrame, curves: pd.DataFrame, out: Path,
                 name: str) -> list[Figure]:
    """Per claim, the per-run values of each side (one dot per seed; stalled or unhealthy runs marked), under the
    first BatchNorm mode its runs were scored in."""
    firsts = list({d.claim.id: d for d in reversed(decisions)}.values())[::-1]
    panels = [(d, claim_points(d.claim, results, curves, d.bn_mode)) for d in firsts]
    panels = [(d, p) for d, p in panels if len(p)]
    if not panels:
        return []
    cols = min(4, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.6 * rows), squeeze=False)
    for ax, (d, points) in zip(axes.flat, panels, strict=False):
        _strip_panel(ax, d, points)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles = [plt.Line2D([], [], marker=m, color="#333", linestyle="", label=text)
               for m, text in HEALTH_MARK.values() if text != "health unknown"]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(f"{name}: the per-seed values behind each claim (BatchNorm {firsts[0].bn_mode})", fontsize=10)
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    path = save_figure(fig, out / f"{name}_seeds.png")
    return [(path, f"Strip plots of the per-seed values behind each claim of {name}: one dot per run, a cross for a "
                   "stalled run, a triangle for one that had not converged.")]


def _strip_panel(ax: plt.Axes, d: Decision, points: pd.DataFrame) -> None:
    trend = d.claim.kind == "trend"
    sides = list(dict.fromkeys(points["label"]))
    for i, side in enumerate(sides):
        part = points[points["label"] == side]
        for state, group in part.groupby("health"):
            marker = HEALTH_MARK.get(state, HEALTH_MARK["unknown"])[0]
            x = group["x"] if trend else [i + 0.06 * ((k % 5) - 2) for k in range(len(group))]
            ax.scatter(x, group["value"], marker=marker, s=22, color="#c0392b" if state != HEALTHY else "#2e86c1",
                       linewidths=1.2)
    if not trend:
        ax.set_xticks(range(len(sides)), [s.replace(" ", "\n", 1) for s in sides], fontsize=7)
        ax.set_xlim(-0.6, len(sides) - 0.4)
    else:
        ax.set_xlabel(d.claim.sweep, fontsize=7)
    if d.claim.kind == "at_least":
        ax.axhline(d.claim.threshold, color="black", linestyle=":", linewidth=0.8)
    metric = d.claim.metric
    what = "rebound of " if d.claim.kind == "curve" else ""
    ax.set_ylabel(what + label(metric), fontsize=7)
    letter = STYLE[d.verdict][2]
    ax.set_title(f"{d.claim.id} [{letter}]", fontsize=7)
    ax.tick_params(labelsize=7)
