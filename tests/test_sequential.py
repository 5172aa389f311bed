"""Seeds until decided, end to end: rounds of 3 seeds, the run stops when every claim is decided, the same command
resumes from the store, and the verdict shows the seeds each claim spent (the strongest look it kept)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ignbench.cli import main

SPEC = """
[experiment]
name = "seq"
title = "seq"
report = "lowdim"
seeds = 3

[sweep]
method = ["ign"]

[config]
dataset = "2moons"
distance = "l2"
eval_kind = "lowdim"
batch_size = 32
steps = 300
lr = 2e-3
hidden = 32
eval_n_samples = 256
eval_n_real = 256

[presets.paper]

[[claims]]
id = "rec"
text = "IGN reconstructs 2moons to a mean distance below 1"
kind = "at_least"
metric = "rec_error"
threshold = 1.0
a = {method = "ign", application = "f(x)"}
"""


@pytest.fixture
def spec(tmp_path: Path) -> str:
    path = tmp_path / "seq.toml"
    path.write_text(SPEC)
    return str(path)


def test_until_decided_stops_once_every_claim_is_decided_and_resumes(runner, spec, tmp_path):
    """3 seeds cannot decide an at_least claim (its sign test's smallest p is 1/8): the first look spends no
    alpha; 6 seeds decide it at alpha / 2 (two looks share alpha: 6 and 9), so the run stops at 6 of 9."""
    store = tmp_path / "runs"
    args = ["run", spec, "--until-decided", "--max-seeds", "9", "--store", str(store)]
    first = runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "after the look at 3 seeds:" in first.output and "after the look at 6 seeds:" in first.output
    assert "every claim decided by 6 seeds" in first.output and "look at 9" not in first.output
    assert len(list((store / "seq").iterdir())) == 6
    again = runner.invoke(main, args)
    assert again.exit_code == 0 and "0 to do" in again.output and "every claim decided by 6 seeds" in again.output
    verdict = runner.invoke(main, ["verdict", spec, "--until-decided", "--max-seeds", "9", "--store", str(store)])
    line = next(x for x in verdict.output.splitlines() if x.startswith("seq/rec"))
    assert "REPRODUCED" in line and "spent 6" in line
    dry = runner.invoke(main, ["run", spec, "--until-decided", "--max-seeds", "9", "--store", str(store),
                               "--dry-run"])
    assert "9 runs (6 done, 3 pending)" in dry.output and "what 9 seeds can decide" in dry.output


@pytest.mark.parametrize("args,message", [
    (["--until-decided", "--max-seeds", "2"], "--max-seeds must be at least the first round's 3 seeds"),
    (["--until-decided", "--max-seeds", "many"], "'many' is not a valid integer"),
    (["--until-decided"], "--until-decided needs --max-seeds"),
    (["--until-decided", "--max-seeds", "6", "--seeds", "3"], "drop --seeds"),
    (["--max-seeds", "6"], "--max-seeds is for --until-decided"),
    (["--adjust", "bonferroni"], "'bonferroni' is not one of"),
])
def test_bad_sequential_options_are_one_line_errors_and_write_nothing(runner, spec, tmp_path, args, message):
    store = tmp_path / "runs"
    res = runner.invoke(main, ["run", spec, "--store", str(store), *args])
    assert res.exit_code == 2 and message in res.output
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
    assert not store.exists()
