"""End to end through the CLI: smoke runs, skip/force/retry, reports of exactly the planned runs, visible
failures, verdicts, evaluation, and the index page."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import MINI_SPEC
from ignbench import load_curves, load_results
from ignbench.cli import main
from ignbench.plan import makespan

GOOD_SPEC = MINI_SPEC


def _spec(tmp_path: Path, text: str, name: str = "mini.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def table1(tmp_path_factory):
    """table1 at the smoke preset (3 methods x 2 seeds): the runs Table 2, Fig. 4 and Fig. 16 report too."""
    root = tmp_path_factory.mktemp("table1")
    store, out = root / "runs", root / "reports"
    res = CliRunner().invoke(main, ["run", "table1", "--preset", "smoke", "--store", str(store)])
    assert res.exit_code == 0, res.output
    assert "finished: 6 done" in res.output
    return store, out


def test_rerun_skips_finished_runs_and_status_lists_them(runner, table1):
    store, _ = table1
    again = runner.invoke(main, ["run", "table1", "--preset", "smoke", "--store", str(store)])
    assert "6 runs (6 done); 0 to do" in again.output
    status = runner.invoke(main, ["status", "table1", "--store", str(store)])
    assert status.output.count(" done ") == 6 and "4/4" in status.output


def test_table1_report_tables_figures_scorecard_and_index(runner, table1):
    store, out = table1
    rep = runner.invoke(main, ["report", "table1", "--preset", "smoke", "--store", str(store), "--out", str(out)])
    assert rep.exit_code == 0, rep.output
    assert "| IGN: f(z) |" in rep.output and "| NAIGN-: f(f(z)) |" in rep.output and "preset 'smoke'" in rep.output
    table = pd.read_csv(out / "smoke" / "table1.csv")
    assert list(table["Method"]) == ["IGN: f(z)", "IGN: f(f(z))", "NAIGN: f(z)", "NAIGN: f(f(z))",
                                     "NAIGN-: f(z)", "NAIGN-: f(f(z))"]
    assert table["FLD (↓) paper"].iloc[0] == "359 ± 40"
    assert table["FLD (↓)"].str.endswith("(2/2)").all()  # finished of planned, in every cell
    train_mode = pd.read_csv(out / "smoke" / "table1_table2.csv")  # the same models, BatchNorm in train mode
    assert not train_mode["FLD (↓)"].equals(table["FLD (↓)"])
    assert "\\begin{tabular}" in (out / "smoke" / "table1.tex").read_text()
    for mode in ("eval", "train"):
        assert (out / "smoke" / f"table1_samples_{mode}.png").stat().st_size > 1000
    card = pd.read_csv(out / "smoke" / "table1_scorecard.csv")
    assert len(card) == 2 * 12 and set(card["BN mode"]) == {"eval", "train"}  # 12 claims x 2 BatchNorm modes
    assert set(card["Verdict"]) <= {"reproduced", "contradicted", "inconclusive", "insufficient"}
    assert card.loc[card.Claim == "fld-naign-beats-ign", "Paper"].iloc[0] == "279 ± 40 vs 359 ± 40"
    index = (out / "index.html").read_text()
    assert "What reproduced?" in index and "fld-naign-beats-ign" in index and "table1_samples_eval.png" in index
    assert "table1_forest.png" in index and "table1_seeds.png" in index
    df = load_results("table1", preset="smoke", root=store)
    assert set(df["bn_mode"].dropna()) == {"eval", "train"}
    assert set(df["metric"].dropna()) >= {"fld", "coverage", "density", "rec_error", "mae", "mae_input"}
    assert df[df.metric == "fld"]["value"].gt(0).all()


def test_table2_fig4_fig16_report_table1s_runs(runner, table1):
    store, out = table1
    shared = runner.invoke(main, ["run", "table2", "--preset", "smoke", "--store", str(store)])
    assert shared.exit_code == 0 and "6 runs (the runs of table1) (6 done); 0 to do" in shared.output
    for name in ("table2", "fig4_fld_training", "fig16_fk_stability"):
        rep = runner.invoke(main, ["report", name, "--preset", "smoke", "--store", str(store), "--out", str(out)])
        assert rep.exit_code == 0, rep.output
    table2 = pd.read_csv(out / "smoke" / "table2.csv")
    assert list(table2["Method"]) == ["IGN", "NAIGN", "NAIGN-", "x' itself (no restoration)"]
    assert table2["Blur paper"].iloc[0] == "0.44 ± 0.43" and table2["LinesRows paper"].iloc[1] == "0.11 ± 0.00"
    assert (out / "smoke" / "table2_restoration_eval.png").stat().st_size > 1000
    df = load_results("table2", preset="smoke", root=store)
    inputs = df[df.metric == "mae_input"].groupby("application")["value"].nunique()
    assert set(inputs.index) == {"blur", "gaussian_noise", "salt_pepper", "lines_rows"}
    assert (inputs == 1).all()  # every run is scored on the very same degraded images
    fk = pd.read_csv(out / "smoke" / "fig16_fk_stability.csv")
    assert list(fk["k"]) == [1, 2, 20, 100] * 3
    assert fk["L1 distance to f(z)"].iloc[0].startswith("0.0000")  # f^1 is f
    curves = load_curves("fig4_fld_training", preset="smoke", root=store)
    assert sorted(curves["step"].unique()) == [2, 4] and set(curves["bn_mode"]) == {"eval", "train"}
    assert (out / "smoke" / "fig4_fld_training_during_training.png").stat().st_size > 1000
    index = (out / "index.html").read_text()
    assert all(f"id='{name}-smoke'" in index for name in ("table1", "table2", "fig4_fld_training",
                                                         "fig16_fk_stability"))


def test_verdict_prints_counts_then_one_line_per_claim(runner, table1):
    store, _ = table1
    res = runner.invoke(main, ["verdict", "table2", "--preset", "smoke", "--store", str(store)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].startswith("table2 [smoke, 2 seeds]: 0 reproduced, 0 contradicted, 0 inconclusive, 16 "
                               "insufficient")
    claims = [line for line in lines if line.startswith("table2/")]
    assert len(claims) == 16 and all(len(line) <= 100 for line in lines)  # counts, claims and the key alike
    assert sum(line.startswith("table2/blur-naign-beats-ign ") for line in claims) == 2  # one per BatchNorm mode
    # four steps leave every smoke run on its initial plateau: f(z) has collapsed, and the claims say so
    assert "ok 0/4/4" in claims[0]
    as_json = json.loads(runner.invoke(main, ["verdict", "table2", "--preset", "smoke", "--store", str(store),
                                              "--format", "json"]).output)
    assert len(as_json) == 16 and as_json[0]["Notes"] == "all 2 finished runs of naign stalled"
    bad = runner.invoke(main, ["verdict", "table2", "--preset", "smoke", "--store", str(store), "--format", "xml"])
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1 and "--format" in bad.output


def test_report_shows_exactly_the_planned_runs(runner, tmp_path):
    """A copy of a spec with other settings under the same name adds runs to the store, never to the report."""
    spec = _spec(tmp_path, GOOD_SPEC)
    other = _spec(tmp_path / "..", GOOD_SPEC.replace("steps = 3", "steps = 4"), "mini-copy.toml")
    store, out = tmp_path / "runs", tmp_path / "reports"
    for path in (spec, other):
        assert runner.invoke(main, ["run", str(path), "--preset", "smoke", "--store", str(store)]).exit_code == 0
    assert len(list((store / "mini").iterdir())) == 2
    rep = runner.invoke(main, ["report", str(spec), "--preset", "smoke", "--store", str(store), "--out", str(out),
                               "--unplanned"])
    assert rep.exit_code == 0, rep.output
    assert "(1/1)" in rep.output and "(2/" not in rep.output
    assert "stored runs of mini outside this plan: 1" in rep.output
    assert not (tmp_path / "mini.html").exists()  # nothing written beside the spec


def test_failed_and_diverged_runs_are_counted_in_every_cell(runner, tmp_path):
    spec = _spec(tmp_path, GOOD_SPEC.replace("seeds = 1", "seeds = 3"))
    store, out = tmp_path / "runs", tmp_path / "reports"
    assert runner.invoke(main, ["run", str(spec), "--preset", "smoke", "--store", str(store)]).exit_code == 0
    statuses = sorted((store / "mini").glob("*/status.json"))
    for path, state in zip(statuses[:2], ("diverged", "failed"), strict=True):
        path.write_text(json.dumps({**json.loads(path.read_text()), "state": state}))
    rep = runner.invoke(main, ["report", str(spec), "--preset", "smoke", "--store", str(store), "--out", str(out)])
    assert rep.exit_code == 0, rep.output
    assert "(1/3, 1 diverged, 1 failed)" in rep.output
    statuses[2].write_text(json.dumps({**json.loads(statuses[2].read_text()), "state": "diverged"}))
    rep = runner.invoke(main, ["report", str(spec), "--preset", "smoke", "--store", str(store), "--out", str(out)])
    assert "| 2moons | NAIGN | f(z) | – (0/3, 2 diverged, 1 failed)" in rep.output  # the rows stay


def test_run_exits_1_when_a_run_failed_and_0_when_one_diverged(runner, tmp_path, monkeypatch):
    from ignbench import methods
    from ignbench.train.trainer import Trainer

    spec = _spec(tmp_path, GOOD_SPEC)
    store = tmp_path / "runs"
    monkeypatch.setattr(Trainer, "step", lambda self: (_ for _ in ()).throw(RuntimeError("boom")))
    failed = runner.invoke(main, ["run", str(spec), "--preset", "smoke", "--store", str(store)])
    assert failed.exit_code == 1 and "1 run(s) failed" in failed.output
    monkeypatch.undo()
    original = methods.METHODS["naign"]
    import dataclasses

    monkeypatch.setitem(methods.METHODS, "naign", dataclasses.replace(
        original, loss=lambda terms, cfg, warm: original.loss(terms, cfg, warm) * float("nan")))
    diverged = runner.invoke(main, ["run", str(spec), "--preset", "smoke", "--store", str(store), "--retry-failed"])
    assert diverged.exit_code == 0 and "1 run(s) diverged" in diverged.output


def test_force_and_retry_failed(runner, tmp_path):
    spec = _spec(tmp_path, GOOD_SPEC)
    store = tmp_path / "runs"
    assert runner.invoke(main, ["run", str(spec), "--preset", "smoke", "--store", str(store)]).exit_code == 0
    status_file = next(store.rglob("status.json"))
    status_file.write_text(json.dumps({**json.loads(status_file.read_text()), "state": "failed"}))
    skipped = runner.invoke(main, ["run", str(spec), "--preset", "smoke", "--store", str(store)])
    assert "0 to do" in skipped.output
    retried = runner.invoke(main, ["run", str(spec), "--preset", "smoke", "--store", str(store), "--retry-failed"])
    assert "1 to do" in retried.output and json.loads(status_file.read_text())["state"] == "done"
    forced = runner.invoke(main, ["run", str(spec), "--preset", "smoke", "--store", str(store), "--force"])
    assert "1 to do" in forced.output and "finished: 1 done" in forced.output


def test_dry_run_shows_plan_and_measured_cost_and_writes_nothing(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("IGNBENCH_CACHE", str(tmp_path / "cache"))
    store = tmp_path / "runs"
    res = runner.invoke(main, ["run", "table1", "fig3_modes2d", "--preset", "smoke", "--dry-run", "--store",
                               str(store)])
    assert res.exit_code == 0, res.output
    assert "table1 [smoke]: 6 runs (6 pending); 6 to do" in res.output
    assert "fig3_modes2d [smoke]: 9 runs (9 pending); 9 to do" in res.output
    assert "3 runs stacked: naign   2moons, 8gaussians, grids, seeds 0" in res.output
    assert "estimated cost" in res.output and "calibrated by timing real steps" in res.output
    assert not store.exists()
    timings = json.loads((tmp_path / "cache" / "step_times.json").read_text()).values()
    # table1's runs record a training curve: one point of it is timed as such (not scaled from the evaluation)
    assert any(t["curve_point"] > 0 for t in timings) and all(t["replay"] > 0 for t in timings)


def test_jobs_trains_groups_side_by_side_with_the_same_results(runner, table1, tmp_path):
    store, _ = table1
    side = tmp_path / "runs"
    res = runner.invoke(main, ["run", "table1", "--preset", "smoke", "--store", str(side), "--jobs", "2"])
    assert res.exit_code == 0, res.output
    assert "finished: 6 done" in res.output
    one_at_a_time = sorted(store.rglob("eval.json"))
    assert len(one_at_a_time) == 6
    for path in one_at_a_time:
        a = json.loads(path.read_text())["metrics"]["eval"]
        b = json.loads((side / path.relative_to(store)).read_text())["metrics"]["eval"]
        # a worker has half the threads: float summation order differs, nothing else
        assert b["f(x)"]["rec_error"] == pytest.approx(a["f(x)"]["rec_error"], rel=1e-3)
        assert b["f(z)"]["fld"] == pytest.approx(a["f(z)"]["fld"], rel=1e-3)


def test_jobs_dry_run_costs_workers_and_slurm_refuses_jobs(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("IGNBENCH_CACHE", str(tmp_path / "cache"))
    res = runner.invoke(main, ["run", "table1", "--preset", "smoke", "--dry-run", "--jobs", "8", "--store",
                               str(tmp_path / "runs")])
    assert res.exit_code == 0, res.output
    assert "(6 groups at a time, " in res.output  # 3 methods x 2 seeds: never more workers than groups
    slurm = runner.invoke(main, ["run", "table1", "--preset", "smoke", "--executor", "slurm", "--jobs", "2",
                                 "--store", str(tmp_path / "runs")])
    assert slurm.exit_code == 2 and slurm.output.count("\n") == 1 and "--jobs is for --executor local" in slurm.output
    zero = runner.invoke(main, ["run", "table1", "--preset", "smoke", "--jobs", "0", "--store", str(tmp_path / "runs")])
    assert zero.exit_code == 2 and zero.output == "error: --jobs must be at least 1, got 0\n"
    assert not (tmp_path / "runs").exists()


def test_makespan_takes_tasks_in_order_on_the_first_free_worker():
    assert makespan([3, 1, 1, 1], 2) == 3
    assert makespan([1, 1, 1, 1], 2) == 2
    assert makespan([2, 2, 3], 2) == 5
    assert makespan([5, 1], 1) == 6


def test_evaluate_recomputes_identical_metrics_from_checkpoint(runner, tmp_path):
    spec = _spec(tmp_path, GOOD_SPEC)
    store = tmp_path / "runs"
    assert runner.invoke(main, ["run", str(spec), "--preset", "smoke", "--store", str(store)]).exit_code == 0
    eval_file = next(store.rglob("eval.json"))
    before = json.loads(eval_file.read_text())
    eval_file.unlink()
    res = runner.invoke(main, ["evaluate", str(spec), "--preset", "smoke", "--store", str(store)])
    assert res.exit_code == 0 and "evaluating 1 finished run(s)" in res.output, res.output
    assert json.loads(eval_file.read_text())["metrics"] == before["metrics"]


def test_fld_curve_experiment_reports_per_m(runner, tmp_path):
    """NAIGN Fig. 9: the M sweep's runs record FLD during training; the report has one row and curve per M."""
    store, out = tmp_path / "runs", tmp_path / "reports"
    res = runner.invoke(main, ["run", "fig9_imle_m", "--preset", "smoke", "--store", str(store)])
    assert res.exit_code == 0 and "finished: 5 done" in res.output, res.output
    rep = runner.invoke(main, ["report", "fig9_imle_m", "--store", str(store), "--out", str(out)])
    assert rep.exit_code == 0, rep.output
    table = pd.read_csv(out / "smoke" / "fig9_imle_m.csv")
    assert list(table["Method"]) == [f"NAIGN, M = {m}" for m in (8, 16, 32, 64, 128)]  # 0.5 ... 8.03 x batch 16
    assert (out / "smoke" / "fig9_imle_m_during_training.png").stat().st_size > 1000
    curves = load_curves("fig9_imle_m", preset="smoke", root=store)
    assert sorted(curves["step"].unique()) == [2, 4] and curves["value"].gt(0).all()
    assert sorted(curves["M"].unique()) == [8, 16, 32, 64, 128]


def test_index_keeps_every_reported_experiment_of_the_store(runner, tmp_path):
    spec = _spec(tmp_path, GOOD_SPEC)
    store, out = tmp_path / "runs", tmp_path / "reports"
    assert runner.invoke(main, ["run", str(spec), "--preset", "smoke", "--store", str(store)]).exit_code == 0
    assert runner.invoke(main, ["--spec-dir", str(tmp_path), "report", "mini", "--store", str(store), "--out",
                                str(out)]).exit_code == 0
    assert "id='mini-smoke'" in (out / "index.html").read_text()
    shutil.rmtree(store / "mini")  # runs gone from the store: their section leaves the index at the next report
    runner.invoke(main, ["run", "fig2_trimodal", "--preset", "smoke", "--store", str(store)])
    assert runner.invoke(main, ["report", "fig2_trimodal", "--store", str(store), "--out", str(out)]).exit_code == 0
    index = (out / "index.html").read_text()
    assert "id='fig2_trimodal-smoke'" in index and "id='mini-smoke'" not in index


def test_every_command_has_help_and_there_is_a_version(runner):
    for args in (["--help"], ["run", "--help"], ["status", "--help"], ["report", "--help"], ["list", "--help"],
                 ["evaluate", "--help"], ["verdict", "--help"], ["show-config", "--help"], ["fld", "--help"],
                 ["fld", "train", "--help"], ["fld", "sanity", "--help"]):
        res = runner.invoke(main, args)
        assert res.exit_code == 0 and "Usage:" in res.output, args
    version = runner.invoke(main, ["--version"])
    assert version.exit_code == 0 and version.output.startswith("ignbench, version ")


def test_show_config_documents_every_field(runner):
    from ignbench.core.config import FIELDS

    res = runner.invoke(main, ["show-config"])
    assert res.exit_code == 0
    for name in FIELDS:
        assert f"\n{name} " in res.output
    assert "[[claims]] keys:" in res.output


def test_shipped_specs_all_load_with_claims(runner):
    res = runner.invoke(main, ["list"])
    assert res.exit_code == 0 and "table1" in res.output and "12 claims" in res.output
    assert shutil.which("ignbench") is not None


def test_own_spec_folder_by_flag_and_environment(runner, tmp_path, monkeypatch):
    _spec(tmp_path, GOOD_SPEC)
    assert "mini " in runner.invoke(main, ["--spec-dir", str(tmp_path), "list"]).output
    monkeypatch.setenv("IGNBENCH_SPEC_PATH", str(tmp_path))
    res = runner.invoke(main, ["run", "mini", "--preset", "smoke", "--dry-run", "--store", str(tmp_path / "r")])
    assert res.exit_code == 0 and "mini [smoke]: 1 runs" in res.output


def test_dry_run_costs_a_plan_whose_data_is_not_here(runner, tmp_path, monkeypatch):
    """A paper-scale plan is costed before its data is fetched: steps timed on random images of its shape, and the
    evaluation left out where FID has no weights; the note says so. The real run still refuses."""
    monkeypatch.setenv("IGNBENCH_OFFLINE", "1")
    monkeypatch.setenv("IGNBENCH_CACHE", str(tmp_path / "cache"))
    args = ["run", "ign_celeba", "--preset", "smoke", "--data-root", str(tmp_path / "no"), "--store",
            str(tmp_path / "runs")]
    plan = runner.invoke(main, [*args, "--dry-run"])
    assert plan.exit_code == 0, plan.output
    assert "note: celeba is not on this machine: timed on random images of its shape" in plan.output
    assert "note: evaluation not timed" in plan.output and "estimated cost: ~" in plan.output
    refused = runner.invoke(main, args)
    assert refused.exit_code == 2 and "CelebA not found" in refused.output
    assert not (tmp_path / "runs").exists()
