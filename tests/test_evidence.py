"""The committed evidence stays addressable and stays decided the same way.

- The run ids of every shipped spec's cpu and smoke presets are the ids ignbench gave them before the stages became
  packages (commit 4f5a95c, `fixtures/run_ids_4f5a95c.json`), so moving files, canonical hashing and new fields with
  defaults orphan no stored run.
- Every committed scorecard of this engine, re-decided from the per-run values committed beside it
  (`<spec>_values.csv`), gives back its verdicts, raw verdicts and p-values: a change to a test or to the family
  adjustment cannot move a committed verdict unnoticed."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ignbench.report.scorecard import decisions_for, scorecard
from ignbench.spec import load_spec

EVIDENCE = Path(__file__).resolve().parents[1] / "results" / "evidence" / "cpu"

PINNED = json.loads((Path(__file__).parent / "fixtures" / "run_ids_4f5a95c.json").read_text())


@pytest.mark.parametrize("key", sorted(PINNED))
def test_run_ids_are_those_of_the_stored_evidence(key):
    name, preset = key.split("/")
    seeds = 6 if key == "table1/cpu" else None  # the committed Table 1 evidence has the paper's 6 seeds
    assert sorted(c.run_id for c in load_spec(name).expand(preset, seeds)) == PINNED[key]


def _committed() -> list[str]:
    return sorted(p.name.removesuffix("_values.csv") for p in EVIDENCE.glob("*_values.csv")
                  if not p.name.endswith("_curve_values.csv"))


def test_the_evidence_commits_its_values():
    assert "naign_stall" in _committed()


@pytest.mark.parametrize("name", _committed())
def test_a_committed_scorecard_is_given_back_by_its_committed_values(name):
    curves = EVIDENCE / f"{name}_curve_values.csv"
    card = scorecard(load_spec(name), "cpu", decisions_for(
        load_spec(name), pd.read_csv(EVIDENCE / f"{name}_values.csv"),
        pd.read_csv(curves) if curves.exists() else pd.DataFrame(
            columns=["run_id", "seed", "state", "step", "bn_mode", "metric", "value"])))
    committed = pd.read_csv(EVIDENCE / f"{name}_scorecard.csv", keep_default_na=False, dtype=str)
    fresh = card.astype(str).reset_index(drop=True)
    for column in ("Claim", "BN mode", "Verdict", "Raw", "p", "p adj.", "p against", "p against adj."):
        assert list(fresh[column]) == list(committed[column]), column
