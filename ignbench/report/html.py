"""One self-contained HTML page (tables inline, figures as relative PNG links) for a set of report sections."""

from __future__ import annotations

import html
import os
import time
from pathlib import Path

from ignbench.report import Section

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f2f2f2; }
figure { margin: 1em 0 2em; } img { max-width: 100%; border: 1px solid #eee; }
.caption, figcaption { color: #555; font-size: 0.9em; }
.preset { display: inline-block; padding: 0 0.5em; border-radius: 4px; background: #e8eefc; }
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


def write_html(sections: list[Section], path: Path, title: str = "ignbench report") -> Path:
    body = [f"<h1>{html.escape(title)}</h1>",
            f"<p class='caption'>Generated {time.strftime('%Y-%m-%d %H:%M')} from the run store by "
            f"<code>ignbench report</code>. Each caption names the preset its numbers come from.</p>"]
    for s in sections:
        body.append(f"<h2 id='{s.experiment}-{s.preset}'>{html.escape(s.experiment)} "
                    f"<span class='preset'>preset: {html.escape(s.preset)}</span></h2>")
        body.append(f"<p class='caption'>{html.escape(s.caption)}</p>")
        body.append(s.table.to_html(index=False, border=0))
        for extra_title, extra in s.extra_tables:
            body.append(f"<p class='caption'>{html.escape(extra_title)}</p>")
            body.append(extra.to_html(index=False, border=0))
        for fig_path, fig_caption in s.figures:
            rel = os.path.relpath(fig_path, path.parent)
            body.append(f"<figure><img src='{html.escape(rel)}' alt='{html.escape(fig_path.stem)}'>"
                        f"<figcaption>{html.escape(fig_caption)} [preset: {html.escape(s.preset)}]"
                        f"</figcaption></figure>")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style><script>{CHECK_IMAGES}</script></head><body>{''.join(body)}</body></html>\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path
