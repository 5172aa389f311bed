"""HTML: one fragment per reported experiment x preset, and index.html, which answers "what reproduced?" first.

index.html: a summary (one row per experiment: verdict counts after the family's adjustment, raw beside them,
seeds, runs finished), then the forest plots of every experiment, then the contents and one section per
experiment: its regenerated figure, the claims it decides (one line each; the paper's words and the notes in a
tooltip), the per-seed values behind them, and the supporting tables and figures folded. Every path is relative, so
the folder works when copied or zipped; nothing is fetched from the network.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import pandas as pd

from ignbench.core.version import __version__
from ignbench.store import write_text

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1320px; margin: 1.5em auto; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.4em 0 1.2em; font-size: 0.82em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.45em; text-align: left; vertical-align: top; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f2f2f2; }
.wide { overflow-x: auto; max-width: 100%; }
figure { margin: 0.8em 0 1.4em; } img { max-width: 100%; border: 1px solid #eee; }
figure.forest img { max-width: 960px; }
.caption, figcaption { color: #555; font-size: 0.88em; max-width: 1100px; }
.preset { display: inline-block; padding: 0 0.5em; border-radius: 4px; background: #e8eefc; font-size: 0.8em; }
.reproduced { background: #dff3df; } .contradicted { background: #f8d9d9; }
.inconclusive { background: #fff4d1; } .insufficient { background: #eee; color: #666; }
details { margin: 0.4em 0 1em; } summary { cursor: pointer; color: #1a5276; }
.broken { outline: 3px solid #c00; }
@media print {
  body { max-width: none; margin: 0; font-size: 10pt; } a { color: inherit; text-decoration: none; }
  img { max-width: 100% !important; page-break-inside: avoid; } h2 { page-break-before: auto; }
  .wide { overflow: visible; } summary { display: none; }
}
"""
# Marks figures that fail to load (a red outline and a count on <body>), and opens every folded part for printing.
SCRIPT = """
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const broken = imgs.filter(img => !img.complete || img.naturalWidth === 0);
  broken.forEach(img => img.classList.add('broken'));
  document.body.dataset.imagesOk = imgs.length - broken.length;
  document.body.dataset.imagesBroken = broken.length;
});
window.addEventListener('beforeprint', () => document.querySelectorAll('details').forEach(d => d.open = true));
"""
CLAIM_COLUMNS = ["Claim", "BN mode", "Verdict", "Ours", "Difference [90% CI]", "p", "p adj.", "Health",
                 "Seeds needed", "Flags"]
NUMERIC = {"p", "p adj.", "Seeds needed", "planned", "finished", "diverged", "Seeds", "Runs"}
LETTER = {"reproduced": "R", "contradicted": "C", "inconclusive": "I", "insufficient": "–"}
VERDICTS = ["reproduced", "contradicted", "inconclusive", "insufficient"]


def _cell(column: str, value: object, tooltip: str = "") -> str:
    text = "" if value is None or (isinstance(value, float) and value != value) else str(value)
    classes = []
    if column == "Verdict" and text.split(" ")[0] in LETTER:
        classes.append(text.split(" ")[0])
    if column in NUMERIC or column.startswith("p ") or column.endswith("runs"):
        classes.append("num")
    cls = f" class='{' '.join(classes)}'" if classes else ""
    title = f" title='{html.escape(tooltip)}'" if tooltip else ""
    return f"<td{cls}{title}>{html.escape(text)}</td>"


def table_html(table: pd.DataFrame, tooltips: dict[str, pd.Series] | None = None) -> str:
    """A table; `tooltips` maps a column to the text shown when hovering its cells."""
    head = "".join(f"<th{' class=num' if c in NUMERIC else ''}>{html.escape(str(c))}</th>" for c in table.columns)
    rows = [f"<tr>{head}</tr>"]
    for i, record in enumerate(table.itertuples(index=False)):
        cells = [_cell(col, value, str(tooltips[col].iloc[i]) if tooltips and col in tooltips else "")
                 for col, value in zip(table.columns, record, strict=True)]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return "<div class='wide'><table>" + "".join(rows) + "</table></div>"


def _claims_table(card: pd.DataFrame) -> str:
    shown = card[CLAIM_COLUMNS].copy()
    differs = card["Raw"] != card["Verdict"]
    shown["Verdict"] = [f"{v} ({LETTER[v]})" + (f" · raw {r}" if d else "")
                        for v, r, d in zip(card["Verdict"], card["Raw"], differs, strict=True)]
    notes = card["Notes"].fillna("").astype(str)
    healthy = ["" if h == v else f"on healthy runs only: {h}. " for h, v in zip(card["Healthy only"], card["Raw"],
                                                                               strict=True)]
    tips = {"Claim": card["Text"].astype(str),
            "Verdict": pd.Series([f"{h}{n}" for h, n in zip(healthy, notes, strict=True)]),
            "Health": pd.Series(["healthy / finished / planned runs"] * len(card))}
    return table_html(shown, tips)


def _figure(fig_path: Path, caption: str, root: Path, preset: str, css: str = "") -> str:
    rel = os.path.relpath(fig_path, root)
    alt = html.escape(f"{caption} [preset: {preset}]")
    return (f"<figure{f' class={css}' if css else ''}><img src='{html.escape(rel)}' alt='{alt}'>"
            f"<figcaption>{html.escape(caption)} [preset: {html.escape(preset)}]</figcaption></figure>")


def write_fragment(section, path: Path) -> Path:
    """The section's HTML: figure, claims, the seeds behind them, then the supporting tables and figures folded.
    Image paths are relative to the report folder (path's grandparent)."""
    root = path.parent.parent
    parts = [f"<h2 id='{section.experiment}-{section.preset}'>{html.escape(section.experiment)} "
             f"<span class='preset'>preset: {html.escape(section.preset)}</span></h2>",
             f"<p class='caption'>{html.escape(section.caption)}</p>"]
    main, rest = section.figures[:1], section.figures[1:]
    parts += [_figure(p, c, root, section.preset) for p, c in main]
    if section.scorecard is not None and len(section.scorecard):
        parts += ["<h3>Claims</h3><p class='caption'>One line per claim and BatchNorm mode; hover a claim for the "
                  "paper's words, a verdict for its notes. Verdict: after the family's adjustment (raw beside it "
                  "where it differs); Health: healthy / finished / planned runs; Flags: M mode-sensitive, "
                  "H health-sensitive.</p>", _claims_table(section.scorecard)]
    parts += [_figure(p, c, root, section.preset) for p, c in section.seed_figures]
    if section.tables:
        folded = "".join(f"<p class='caption'>{html.escape(title)}</p>{table_html(table)}"
                         for title, table in section.tables)
        parts.append(f"<details><summary>Tables ({len(section.tables)})</summary>{folded}</details>")
    if rest:
        figures = "".join(_figure(p, c, root, section.preset) for p, c in rest)
        parts.append(f"<details><summary>More figures ({len(rest)})</summary>{figures}</details>")
    write_text(path, "\n".join(parts) + "\n")
    return path


def _summary_row(root: Path, experiment: str, preset: str) -> dict:
    row = {"Experiment": experiment, "Preset": preset}
    values = root / preset / f"{experiment}_values.csv"
    if values.exists():
        runs = pd.read_csv(values, usecols=["run_id", "seed", "state"]).drop_duplicates("run_id")
        row["Seeds"] = runs["seed"].nunique()
        row["Runs"] = f"{int(runs['state'].isin(['done', 'diverged']).sum())}/{len(runs)}"
    card_path = root / preset / f"{experiment}_scorecard.csv"
    card = pd.read_csv(card_path, keep_default_na=False, dtype=str) if card_path.exists() else None
    for verdict in VERDICTS:
        if card is None or not len(card):
            row[verdict] = "–"
            continue
        adjusted, raw = int((card["Verdict"] == verdict).sum()), int((card["Raw"] == verdict).sum())
        row[verdict] = f"{adjusted}" + (f" (raw {raw})" if raw != adjusted else "")
    if card is not None and len(card) and (card["Verdict"] == "insufficient").all():
        row["Note"] = "no claim could be tested: " + (card["Notes"].iloc[0] or "no finished runs")
    return row


def write_index(root: Path, entries: list[tuple[str, str]], title: str = "ignbench report") -> Path:
    """index.html over the (experiment, preset) fragments listed, in that order: summary, forest plots, sections."""
    body = [f"<h1>{html.escape(title)}</h1>",
            "<p class='caption'>Generated from the run store by <code>ignbench report</code> (ignbench "
            f"{html.escape(__version__)}; no time stamp, so the same runs give the same page). Each claim of a "
            "paper is decided from the seeds at α = 0.05 by a test whose false-verdict rate is measured "
            "(REPRODUCE.md); the counts are the family-adjusted verdicts (Holm over each report's claims per "
            "BatchNorm mode, unless a report's section names another adjustment), raw in brackets. Each caption "
            "names the preset its numbers come from: a cpu-preset number is never the paper's scale.</p>"]
    summary = pd.DataFrame([_summary_row(root, e, p) for e, p in entries])
    if len(summary):
        links = {f"{e} ({p})": f"#{e}-{p}" for e, p in entries}
        body += ["<h2 id='summary'>What reproduced?</h2>", table_html(summary),
                 "<p class='caption'>Jump to: " + " · ".join(f"<a href='{href}'>{html.escape(text)}</a>"
                                                             for text, href in links.items()) + "</p>"]
    else:
        body += ["<h2 id='summary'>What reproduced?</h2><p>Nothing reported yet: run an experiment, then "
                 "<code>ignbench report</code>.</p>"]
    forests = [(root / p / f"{e}_forest.png", e, p) for e, p in entries]
    forests = [f for f in forests if f[0].exists()]
    if forests:
        body.append("<h2 id='forest'>The verdicts at a glance</h2>")
        body += [_figure(path, f"{e}: each claim's effect in its direction with its 90 % interval, and its verdict",
                         root, p, css="forest") for path, e, p in forests]
    for experiment, preset in entries:
        body.append((root / preset / f"{experiment}.section.html").read_text())
    page = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
            f"content='width=device-width'><title>{html.escape(title)}</title><style>{STYLE}</style>"
            f"<script>{SCRIPT}</script></head><body>{''.join(body)}</body></html>\n")
    index = root / "index.html"
    write_text(index, page)
    return index
