"""End to end through the CLI: smoke run, skip/force/retry, report outputs, and every bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from ignbench import load_results
from ignbench.cli import main

GOOD_SPEC = """
[experiment]
name = "mini"
title = "mini"
report = "lowdim"
seeds = 1

[sweep]
method = ["naign"]

[config]
dataset = "2moons"
distance = "l2"
eval_kind = "lowdim"
batch_size = 8
steps = 3
hidden = 16
eval_n_samples = 64
eval_n_real = 64

[presets.paper]
[presets.smoke]
"""


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mini.toml"
    path.write_text(text)
    return path


def test_smoke_run_status_report_and_skip(runner, tmp_path):
    store, out = tmp_path / "runs", tmp_path / "reports"
    res = runner.invoke(main, ["run", "table1", "--preset", "smoke", "--store", str(store)])
    assert res.exit_code == 0, res.output
    assert "finished: 3 done" in res.output
    again = runner.invoke(main, ["run", "table1", "--preset", "smoke", "--store", str(store)])
    assert "3 done); 0 to do" in again.output
    status = runner.invoke(main, ["status", "table1", "--store", str(store)])
    assert status.output.count(" done ") == 3
    rep = runner.invoke(main, ["report", "table1", "--store", str(store), "--out", str(out)])
    assert rep.exit_code == 0, rep.output
    assert "| IGN: f(z) |" in rep.output and "| NAIGN-: f(f(z)) |" in rep.output
    assert "preset 'smoke'" in rep.output
    table = pd.read_csv(out / "smoke" / "table1.csv")
    assert list(table["Method"]) == ["IGN: f(z)", "IGN: f(f(z))", "NAIGN: f(z)", "NAIGN: f(f(z))",
                                     "NAIGN-: f(z)", "NAIGN-: f(f(z))"]
    assert table["FLD (↓) paper"].iloc[0] == "359 ± 40"
    assert "\\begin{tabular}" in (out / "smoke" / "table1.tex").read_text()
    assert (out / "smoke" / "table1_samples.png").stat().st_size > 1000
    assert (out / "table1.html").exists()
    df = load_results("table1", store)
    assert set(df["metric"].dropna()) >= {"fld", "coverage", "density", "rec_error", "mae", "mae_input"}
    assert df[df.metric == "fld"]["value"].gt(0).all()

    # Table 2 scores the same models: nothing new to train, and its report reads table1's runs.
    shared = runner.invoke(main, ["run", "table2", "--preset", "smoke", "--store", str(store)])
    assert shared.exit_code == 0 and "3 runs (the runs of table1) (3 done); 0 to do" in shared.output
    rep2 = runner.invoke(main, ["report", "table2", "--store", str(store), "--out", str(out)])
    assert rep2.exit_code == 0, rep2.output
    table2 = pd.read_csv(out / "smoke" / "table2.csv")
    assert list(table2["Method"]) == ["IGN", "NAIGN", "NAIGN-", "x' itself (no restoration)"]
    assert table2["Blur paper"].iloc[0] == "0.44 ± 0.43" and table2["LinesRows paper"].iloc[1] == "0.11 ± 0.00"
    assert (out / "smoke" / "table2_restoration.png").stat().st_size > 1000
    inputs = df[df.metric == "mae_input"].groupby("application")["value"].nunique()
    assert set(inputs.index) == {"blur", "gaussian_noise", "salt_pepper", "lines_rows"}
    assert (inputs == 1).all()  # every run is scored on the very same degraded images


def test_force_and_retry_failed(runner, tmp_path):
    spec = _spec(tmp_path, GOOD_SPEC)
    store = tmp_path / "runs"
    assert runner.invoke(main, ["run", str(spec), "--preset", "smoke", "--store", str(store)]).exit_code == 0
    status_file = next(store.rglob("status.json"))
    status = json.loads(status_file.read_text())
    status["state"] = "failed"
    status_file.write_text(json.dumps(status))
    skipped = runner.invoke(main, ["run", str(spec), "--preset", "smoke", "--store", str(store)])
    assert "0 to do" in skipped.output
    retried = runner.invoke(main, ["run", str(spec), "--preset", "smoke", "--store", str(store), "--retry-failed"])
    assert "1 to do" in retried.output and json.loads(status_file.read_text())["state"] == "done"
    forced = runner.invoke(main, ["run", str(spec), "--preset", "smoke", "--store", str(store), "--force"])
    assert "1 to do" in forced.output and "finished: 1 done" in forced.output


def test_dry_run_shows_plan_and_cost_and_writes_nothing(runner, tmp_path):
    store = tmp_path / "runs"
    res = runner.invoke(main, ["run", "table1", "--seeds", "6", "--dry-run", "--store", str(store)])
    assert res.exit_code == 0
    assert "table1 [paper]: 18 runs (18 pending); 18 to do" in res.output
    assert "50000 steps x batch 256 M=2560" in res.output and "estimated cost" in res.output
    assert not store.exists()


BAD_SPECS = {
    "unknown key": (GOOD_SPEC.replace("steps = 3", "steps = 3\nstepz = 4"), "unknown key 'stepz'"),
    "wrong type": (GOOD_SPEC.replace("batch_size = 8", 'batch_size = "eight"'), "batch_size must be int"),
    "unknown method": (GOOD_SPEC.replace('method = ["naign"]', 'method = ["gan"]'), "method = 'gan'"),
    "unknown dataset": (GOOD_SPEC.replace('dataset = "2moons"', 'dataset = "cifar"'), "dataset = 'cifar'"),
    "negative steps": (GOOD_SPEC.replace("steps = 3", "steps = -3"), "steps must be positive"),
    "not toml": ("[experiment\nname=", "not valid TOML"),
    "FLD curve on toy data": (GOOD_SPEC.replace("steps = 3", "steps = 3\ncurve_every = 1"),
                              "curve_every (an FLD curve) needs an image dataset"),
    "FID on toy data": (GOOD_SPEC.replace("steps = 3", "steps = 3\neval_fid = true"),
                        "eval_fid needs an image dataset"),
    "FID flag not a bool": (GOOD_SPEC.replace("steps = 3", 'steps = 3\neval_fid = "yes"'), "eval_fid must be bool"),
    "shared runs with its own config": (GOOD_SPEC.replace('report = "lowdim"', 'report = "lowdim"\nsame_runs_as = '
                                                          '"table1"'), "'config' cannot be set in a spec with"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_spec_gives_one_line_error_and_writes_nothing(runner, tmp_path, case):
    text, message = BAD_SPECS[case]
    spec = _spec(tmp_path, text)
    store = tmp_path / "runs"
    res = runner.invoke(main, ["run", str(spec), "--preset", "smoke", "--store", str(store)])
    assert res.exit_code == 2
    assert res.output.count("\n") == 1 and res.output.startswith("error: mini.toml")
    assert message in res.output
    assert not store.exists()


@pytest.mark.parametrize("args,message", [
    (["run", "table1", "--seeds", "0"], "--seeds must be a positive integer"),
    (["run", "table9"], "unknown experiment 'table9'"),
    (["run", "table1", "--preset", "huge"], "unknown preset 'huge'"),
    (["status", "nope"], "unknown experiment 'nope'"),
    (["report", "table1"], "no finished runs of table1"),
])
def test_bad_command_line_gives_one_line_error(runner, tmp_path, args, message):
    store = tmp_path / "runs"
    res = runner.invoke(main, [*args, "--store", str(store)])
    assert res.exit_code == 2 and res.output.count("\n") == 1 and message in res.output, res.output
    assert not store.exists()


def test_missing_mnist_data_root_gives_one_line_error(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("IGNBENCH_OFFLINE", "1")
    spec = _spec(tmp_path, GOOD_SPEC.replace('dataset = "2moons"', 'dataset = "mnist"')
                 .replace('eval_kind = "lowdim"', 'eval_kind = "generation"').replace('"lowdim"', '"generation"'))
    store = tmp_path / "runs"
    res = runner.invoke(main, ["run", str(spec), "--preset", "smoke", "--store", str(store),
                               "--data-root", str(tmp_path / "nowhere")])
    assert res.exit_code == 2 and res.output.count("\n") == 1
    assert "MNIST not found under" in res.output and "--data-root" in res.output
    assert not store.exists()


@pytest.mark.parametrize("damage", ["corrupt", "partial"])
def test_corrupt_or_partial_result_file_is_reported_not_aggregated(runner, tmp_path, damage):
    spec = _spec(tmp_path, GOOD_SPEC)
    store, out = tmp_path / "runs", tmp_path / "reports"
    assert runner.invoke(main, ["run", str(spec), "--preset", "smoke", "--store", str(store)]).exit_code == 0
    eval_file = next(store.rglob("eval.json"))
    text = eval_file.read_text()
    eval_file.write_text("\x00garbage" if damage == "corrupt" else text[: len(text) // 2])
    before = _files(out)
    res = runner.invoke(main, ["report", str(spec), "--store", str(store), "--out", str(out)])
    assert res.exit_code == 2 and res.output.count("\n") == 1
    assert str(eval_file) in res.output and "corrupt result file" in res.output
    assert _files(out) == before


def test_every_command_has_help(runner):
    for args in (["--help"], ["run", "--help"], ["status", "--help"], ["report", "--help"], ["list", "--help"],
                 ["evaluate", "--help"], ["fld", "--help"], ["fld", "train", "--help"], ["fld", "sanity", "--help"]):
        res = runner.invoke(main, args)
        assert res.exit_code == 0 and "Usage:" in res.output


def test_shipped_specs_all_load(runner):
    res = runner.invoke(main, ["list"])
    assert res.exit_code == 0 and "table1" in res.output
    assert shutil.which("ignbench") is not None


def test_evaluate_recomputes_identical_metrics_from_checkpoint(runner, tmp_path):
    spec = _spec(tmp_path, GOOD_SPEC)
    store = tmp_path / "runs"
    assert runner.invoke(main, ["run", str(spec), "--preset", "smoke", "--store", str(store)]).exit_code == 0
    eval_file = next(store.rglob("eval.json"))
    before = eval_file.read_text()
    eval_file.unlink()
    res = runner.invoke(main, ["evaluate", str(spec), "--preset", "smoke", "--store", str(store)])
    assert res.exit_code == 0 and "re-evaluated 1 run(s)" in res.output
    assert eval_file.read_text() == before


def test_fld_curve_experiment_reports_per_m(runner, tmp_path):
    """NAIGN Fig. 9: the M sweep's runs record FLD during training; the report has one row and curve per M."""
    store, out = tmp_path / "runs", tmp_path / "reports"
    res = runner.invoke(main, ["run", "fig9_imle_m", "--preset", "smoke", "--store", str(store)])
    assert res.exit_code == 0 and "finished: 5 done" in res.output, res.output
    rep = runner.invoke(main, ["report", "fig9_imle_m", "--store", str(store), "--out", str(out)])
    assert rep.exit_code == 0, rep.output
    table = pd.read_csv(out / "smoke" / "fig9_imle_m.csv")
    assert list(table["Method"]) == [f"NAIGN, M = {m}" for m in (8, 16, 32, 64, 128)]  # 0.5 ... 8.03 x batch 16
    assert (out / "smoke" / "fig9_imle_m_fld_curve.png").stat().st_size > 1000
    from ignbench import load_curves

    curves = load_curves("fig9_imle_m", store)
    assert sorted(curves["step"].unique()) == [2, 4] and curves["fld"].gt(0).all()
    assert sorted(curves["M"].unique()) == [8, 16, 32, 64, 128]


def test_stability_report_reads_table1_runs(runner, tmp_path):
    """IGN Fig. 16 from the Table 1 models: every image evaluation iterates f up to f^200(z)."""
    store, out = tmp_path / "runs", tmp_path / "reports"
    assert runner.invoke(main, ["run", "fig16_fk_stability", "--preset", "smoke", "--store", str(store)]).exit_code == 0
    rep = runner.invoke(main, ["report", "fig16_fk_stability", "--store", str(store), "--out", str(out)])
    assert rep.exit_code == 0, rep.output
    table = pd.read_csv(out / "smoke" / "fig16_fk_stability.csv")
    assert list(table["k"]) == [1, 2, 3, 5, 10, 20, 50, 100, 200] * 3
    assert table["L1 distance to f(z)"].iloc[0].startswith("0.0000")  # f^1 is f
    assert (out / "smoke" / "fig16_fk_stability_fk.png").stat().st_size > 1000
    assert (out / "smoke" / "fig16_fk_stability_iterates.png").stat().st_size > 1000
    df = load_results("table1", store)
    assert {"mae_to_fz", "drift"} <= set(df.metric.dropna()) and (df[df.metric == "drift"].value >= 0).all()
