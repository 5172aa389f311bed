"""The committed evidence stays addressable: the run ids of every shipped spec's cpu and smoke presets are the ids
ignbench gave them before the stages became packages (commit 4f5a95c, `fixtures/run_ids_4f5a95c.json`), so moving
files, canonical hashing and new fields with defaults orphan no stored run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ignbench.spec import load_spec

PINNED = json.loads((Path(__file__).parent / "fixtures" / "run_ids_4f5a95c.json").read_text())


@pytest.mark.parametrize("key", sorted(PINNED))
def test_run_ids_are_those_of_the_stored_evidence(key):
    name, preset = key.split("/")
    seeds = 6 if key == "table1/cpu" else None  # the committed Table 1 evidence has the paper's 6 seeds
    assert sorted(c.run_id for c in load_spec(name).expand(preset, seeds)) == PINNED[key]
