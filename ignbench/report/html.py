"""HTML: one fragment per reported experiment x preset, and index.html = the scorecard of every claim on top, then
every fragment. Figures are linked relative to the report folder, so the folder can be moved or published."""

from __future__ import annotations

import html
import os
import time
from pathlib import Path

import pandas as pd

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1300px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
figure { margin: 1em 0 2em; } img { max-width: 100%; border: 1px solid #eee; }
.caption, figcaption { color: #555; font-size: 0.9em; }
.preset { display: inline-block; padding: 0 0.5em; border-radius: 4px; background: #e8eefc; }
.reproduced { background: #dff3df; } .contradicted { background: #f8d9d9; }
.inconclusive { background: #fff4d1; } .insufficient { background: #eee; color: #777; }
.broken { outline: 3px solid #c00; }
"""
# Marks figures that fail to load (a red outline and a count on <body>) so a missing PNG is visible at once.
CHECK_IMAGES = """
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const broken = imgs.filter(img => !img.complete || img.naturalWidth === 0);
  broken.forEach(img => img.classList.add('broken'));
  document.body.dataset.imagesOk = imgs.length - broken.length;
  document.body.dataset.imagesBroken = broken.length;
});
"""
SCORECARD_SHOWN = ["Experiment", "Preset", "Claim", "BN mode", "Verdict", "Raw", "Healthy only", "Flags", "Paper",
                   "Ours", "Difference [90% CI]", "p", "p adj.", "n", "Health", "Seeds needed", "Notes"]


def table_html(table: pd.DataFrame) -> str:
    rows = ["<tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns) + "</tr>"]
    for record in table.itertuples(index=False):
        cells = []
        for column, value in zip(table.columns, record, strict=True):
            cls = f" class='{value}'" if column == "Verdict" else ""
            title = ""
            if column == "Claim" and "Text" in table.columns:
                title = f" title='{html.escape(str(record[list(table.columns).index('Text')]))}'"
            cells.append(f"<td{cls}{title}>{html.escape(str(value))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return "<table>" + "".join(rows) + "</table>"


def write_fragment(section, path: Path) -> Path:
    """The section's HTML; image paths are relative to the report folder (path's grandparent)."""
    root = path.parent.parent
    parts = [f"<h2 id='{section.experiment}-{section.preset}'>{html.escape(section.experiment)} "
             f"<span class='preset'>preset: {html.escape(section.preset)}</span></h2>",
             f"<p class='caption'>{html.escape(section.caption)}</p>"]
    if section.scorecard is not None and len(section.scorecard):
        parts += ["<p class='caption'>Claims (hover a claim for the paper's words):</p>",
                  table_html(section.scorecard[[*SCORECARD_SHOWN, "Text"]].drop(columns=["Experiment", "Preset"]))]
    for title, table in section.tables:
        parts += [f"<p class='caption'>{html.escape(title)}</p>", table_html(table)]
    for fig_path, caption in section.figures:
        rel = os.path.relpath(fig_path, root)
        parts.append(f"<figure><img src='{html.escape(rel)}' alt='{html.escape(fig_path.stem)}'>"
                     f"<figcaption>{html.escape(caption)} [preset: {html.escape(section.preset)}]</figcaption>"
                     "</figure>")
    path.write_text("\n".join(parts) + "\n")
    return path


def write_index(root: Path, entries: list[tuple[str, str]], title: str = "ignbench report") -> Path:
    """index.html over the (experiment, preset) fragments listed, in that order, with every claim's verdict first."""
    cards = []
    for experiment, preset in entries:
        card = root / preset / f"{experiment}_scorecard.csv"
        if card.exists():
            cards.append(pd.read_csv(card, keep_default_na=False, dtype=str))
    body = [f"<h1>{html.escape(title)}</h1>",
            f"<p class='caption'>Generated {time.strftime('%Y-%m-%d %H:%M')} from the run store by "
            "<code>ignbench report</code>. Each caption names the preset its numbers come from; a claim's verdict is "
            "a one-sided test over seeds at α = 0.05 (REPRODUCE.md says which and why).</p>"]
    if cards:
        scorecard = pd.concat(cards, ignore_index=True)
        counts = ", ".join(f"{n} {v}" for v, n in scorecard["Verdict"].value_counts().items())
        body += [f"<h2 id='scorecard'>Scorecard: {html.escape(counts)}</h2>",
                 table_html(scorecard[[*SCORECARD_SHOWN, "Text"]])]
    body.append("<h2>Contents</h2><ul>" + "".join(
        f"<li><a href='#{e}-{p}'>{html.escape(e)} ({html.escape(p)})</a></li>" for e, p in entries) + "</ul>")
    for experiment, preset in entries:
        body.append((root / preset / f"{experiment}.section.html").read_text())
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style><script>{CHECK_IMAGES}</script></head><body>{''.join(body)}</body></html>\n")
    index = root / "index.html"
    index.write_text(page)
    return index
