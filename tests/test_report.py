"""Low-dimensional figures, partial sweeps, the HTML page in a real headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from ignbench.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def lowdim_store(tmp_path_factory) -> Path:
    from click.testing import CliRunner

    store = tmp_path_factory.mktemp("lowdim") / "runs"
    runner = CliRunner()
    res = runner.invoke(main, ["run", "fig3_modes2d", "fig6_density", "fig7_projection", "--preset", "smoke",
                               "--seeds", "2", "--store", str(store)])
    assert res.exit_code == 0, res.output
    assert "fig7_projection [smoke]: 4 runs (the runs of fig3_modes2d) (4 pending); 4 to do" in res.output
    assert "finished: 22 done" in res.output  # fig7's 4 runs are 4 of fig3's 18: trained once
    return store


def test_lowdim_report_tables_and_figures(runner, lowdim_store, tmp_path):
    out = tmp_path / "reports"
    res = runner.invoke(main, ["report", "--seeds", "2", "--store", str(lowdim_store), "--out", str(out)])
    assert res.exit_code == 0, res.output
    smoke = out / "smoke"
    for png in ("fig3_modes2d_panels.png", "fig3_modes2d_curves.png", "fig6_density_fuzzy-2moons_density.png",
                "fig7_projection_2moons_projection.png", "fig7_projection_2moons_density.png"):
        assert (smoke / png).stat().st_size > 5000, png
    table = pd.read_csv(smoke / "fig3_modes2d.csv")
    assert len(table) == 3 * 3 * 2  # dataset x method x application
    grids = table[(table.Dataset == "grids") & (table.Applied == "f(z)")]
    assert grids["Modes covered (↑)"].str.endswith("(2/2)").all()
    assert table[table.Dataset == "2moons"]["Modes covered (↑)"].eq("–").all()  # no modes on a manifold
    drift = pd.read_csv(smoke / "fig6_density_table2.csv")
    assert set(drift.Applied) == {"drift", "drift_near"}
    card = pd.read_csv(smoke / "fig3_modes2d_scorecard.csv")
    assert len(card) == 9 and set(card["BN mode"]) == {"none"}  # an MLP has no BatchNorm: one verdict per claim
    assert (smoke / "fig3_modes2d_during_training.png").stat().st_size > 5000
    health = pd.read_csv(smoke / "fig3_modes2d_table3.csv")  # run health: stall rates per method and dataset
    assert set(health["stalled"]) <= {"0/2", "1/2", "2/2"} and len(health) == 9
    plateau = pd.read_csv(smoke / "fig3_modes2d_table4.csv")
    assert set(plateau["Metric"]) >= {"Modes covered", "Coverage at r"}
    assert plateau["plateaued (net change ≤ spread)"].str.endswith("/2 runs").all()
    html = (out / "index.html").read_text()
    assert html.count("<img") >= 8 and "preset: smoke" in html and "NAIGN Fig. 3" in html


def test_partial_sweep_reports_n_per_cell(runner, lowdim_store, tmp_path):
    store = tmp_path / "partial"
    shutil.copytree(lowdim_store, store)
    victim = next(p.parent for p in store.glob("fig3_modes2d/*/config.json")
                  if '"seed": 1' in p.read_text() and '"grids"' in p.read_text() and '"naign"' in p.read_text())
    next(victim.glob("evals/*/eval.json")).unlink()
    (victim / "status.json").write_text('{"state": "running", "step": 2}')
    out = tmp_path / "reports"
    res = runner.invoke(main, ["report", "fig3_modes2d", "--seeds", "2", "--store", str(store), "--out", str(out)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "smoke" / "fig3_modes2d.csv")
    naign_grids = table[(table.Dataset == "grids") & (table.Method == "NAIGN")]
    assert naign_grids["Coverage (↑)"].str.endswith("(1/2, 1 interrupted)").all()  # "running", but no process holds it
    lock = {"host": socket.gethostname(), "pid": os.getpid(), "token": "t", "heartbeat": time.time(), "step": 2}
    (victim / "lock.json").write_text(json.dumps(lock))  # now a live process holds it
    assert runner.invoke(main, ["report", "fig3_modes2d", "--seeds", "2", "--store", str(store), "--out",
                                str(out)]).exit_code == 0
    naign_grids = pd.read_csv(out / "smoke" / "fig3_modes2d.csv").query("Dataset == 'grids' and Method == 'NAIGN'")
    assert naign_grids["Coverage (↑)"].str.endswith("(1/2, 1 running)").all()
    assert table[(table.Dataset == "grids") & (table.Method == "IGN")]["Coverage (↑)"].str.endswith("(2/2)").all()
    card = pd.read_csv(out / "smoke" / "fig3_modes2d_scorecard.csv")
    verdict = card.loc[card.Claim == "grids-naign-covers-all-modes", "Verdict"].iloc[0]
    assert verdict == "insufficient"  # a planned run is not finished


def test_figure_for_experiment_without_runs_names_the_command(runner, tmp_path):
    res = runner.invoke(main, ["report", "fig6_density", "--store", str(tmp_path / "empty")])
    assert res.exit_code == 2 and res.output.count("\n") == 1
    assert "ignbench run fig6_density --preset cpu" in res.output


def test_report_writes_nothing_into_the_committed_evidence(runner, lowdim_store, tmp_path, monkeypatch):
    """A bare `ignbench report` in the source tree writes results/reports/ (git-ignored), never results/evidence/."""
    monkeypatch.chdir(tmp_path)
    evidence = tmp_path / "results" / "evidence"
    evidence.mkdir(parents=True)
    (evidence / "index.html").write_text("committed")
    assert runner.invoke(main, ["report", "--store", str(lowdim_store)]).exit_code == 0
    assert (tmp_path / "results" / "reports" / "index.html").exists()
    assert [p.name for p in evidence.iterdir()] == ["index.html"] and (evidence / "index.html").read_text() == \
        "committed"


MEASURE = """<script>
window.addEventListener('load', () => {
  const top = el => el ? Math.round(el.getBoundingClientRect().top + window.scrollY) : -1;
  const b = document.body.dataset;
  b.scrollWidth = document.documentElement.scrollWidth;
  b.viewWidth = document.documentElement.clientWidth;
  b.summaryTop = top(document.querySelector('#summary + div table'));
  b.forestTop = top(document.querySelector('figure.forest'));
  b.altMissing = [...document.images].filter(img => !img.alt).length;
});
</script></body>"""


def _chromium(page: Path, tmp_path: Path, *extra: str) -> str:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--allow-file-access-from-files",
             "--virtual-time-budget=8000", "--window-size=1400,1200", *extra]
    return subprocess.run([CHROMIUM, *flags, page.as_uri()], capture_output=True, text=True, timeout=180).stdout


@pytest.mark.skipif(CHROMIUM is None and os.environ.get("IGNBENCH_REQUIRE_CHROMIUM") != "1",
                    reason="chromium not installed (apt-get install chromium)")
def test_html_report_renders_in_headless_chromium(runner, lowdim_store, tmp_path):
    """index.html at 1,400 px in a real browser: every image loads and has alt text, nothing overflows sideways,
    and the summary and the forest plot are on the first screen (1,200 px). The screenshot is kept as an artefact
    ($IGNBENCH_ARTIFACTS, default test-artifacts/)."""
    assert CHROMIUM is not None, "IGNBENCH_REQUIRE_CHROMIUM=1 but chromium is not installed"
    out = tmp_path / "reports"
    assert runner.invoke(main, ["report", "--store", str(lowdim_store), "--out", str(out)]).exit_code == 0
    page = (out / "index.html").resolve()
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text().replace("</body>", MEASURE))
    dom = _chromium(probe, tmp_path, "--dump-dom").replace("'", '"')
    found = dict(re.findall(r'data-([a-z-]+)="(-?\d+)"', dom))
    n_images = dom.count("<img")
    assert n_images >= 8
    assert found["images-ok"] == str(n_images) and found["images-broken"] == "0" and found["alt-missing"] == "0"
    assert int(found["scroll-width"]) <= int(found["view-width"]) <= 1400  # no horizontal overflow
    assert 0 <= int(found["summary-top"]) < 1200 and 0 <= int(found["forest-top"]) < 1200
    assert re.search(r'<h2 id="fig3_modes2d-smoke"', dom)
    artifacts = Path(os.environ.get("IGNBENCH_ARTIFACTS", "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "report-1400.png"
    _chromium(page, tmp_path, f"--screenshot={shot.resolve()}")
    assert shot.stat().st_size > 20000


def test_report_folder_is_self_contained_and_light(runner, lowdim_store, tmp_path):
    """Every link of index.html is relative and inside its folder, no address reaches the network, and the copy
    of the folder elsewhere still has every file it names."""
    out = tmp_path / "reports"
    assert runner.invoke(main, ["report", "--store", str(lowdim_store), "--out", str(out)]).exit_code == 0
    moved = tmp_path / "elsewhere"
    shutil.copytree(out, moved)
    text = (moved / "index.html").read_text()
    assert "http://" not in text and "https://" not in text
    sources = re.findall(r"src='([^']+)'", text)
    assert sources and all(not s.startswith("/") and (moved / s).is_file() for s in sources)
    assert sum(f.stat().st_size for f in moved.rglob("*") if f.is_file()) < 5e6


def test_a_report_regenerates_byte_identical_from_the_same_store(runner, lowdim_store, tmp_path):
    """The committed evidence is a function of the store: every table, figure and page comes out byte for byte the
    same when the same runs are reported again (no time stamp, no random order, no PNG metadata that moves)."""
    first, second = tmp_path / "first", tmp_path / "second"
    for out in (first, second):
        res = runner.invoke(main, ["report", "--seeds", "2", "--store", str(lowdim_store), "--out", str(out)])
        assert res.exit_code == 0, res.output
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert len(files) > 20
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert [f for f in files if (first / f).read_bytes() != (second / f).read_bytes()] == []
