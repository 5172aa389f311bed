"""An open suite: a researcher's own method plugs in through an entry point (the worked example in examples/,
installed as a user would), and broken plugins are one-line warnings or errors that leave the built-ins working.

Plugins are put on the path of a fresh `ignbench` process (pip install --target, or a hand-made dist-info), so the
test environment itself is never changed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ignbench-plugin-example"


def _ignbench(*args: str, path: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(path)}
    return subprocess.run([sys.executable, "-m", "ignbench.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=900)


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(site), str(EXAMPLE)], check=True, capture_output=True, timeout=600)
    return site


def test_the_worked_example_runs_its_spec_and_gets_its_scorecard(example, tmp_path):
    listed = _ignbench("list", "--plugins", path=example, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert any(line.split()[:2] == ["naign-z", "ignbench-plugin-example"] and line.endswith("ok")
               for line in listed.stdout.splitlines())
    spec = example / "ignbench_plugin_example" / "naign_z.toml"
    run = _ignbench("run", str(spec), "--preset", "smoke", path=example, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "finished: 6 done" in run.stdout
    verdict = _ignbench("verdict", str(spec), "--preset", "smoke", "--format", "csv", path=example, cwd=tmp_path)
    assert verdict.returncode == 0, verdict.stderr
    rows = verdict.stdout.splitlines()
    assert sum(r.startswith("naign_z,smoke,naign-z-covers-more-than-ign,none,") for r in rows) == 1
    assert sum(r.startswith("naign_z,smoke,naign-z-comparable-to-naign,none,") for r in rows) == 1


def _plugin(site: Path, package: str, group: str, name: str, code: str) -> Path:
    """A hand-made installed distribution with one entry point and its module."""
    module = package.replace("-", "_")
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(code)
    info = site / f"{module}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{name} = {module}:OBJ\n")
    return site


BROKEN = {
    "import fails": ("ignbench.methods", "bad-import", "raise ImportError('no module named torch_magic')",
                     "method 'bad-import' of package 'broken-plugin' (broken_plugin:OBJ) is left out: "
                     "ImportError: no module named torch_magic"),
    "clashes with a built-in": ("ignbench.methods", "naign", "from ignbench.methods.builtin import NAIGN as OBJ",
                                "method 'naign' of package 'broken-plugin' (broken_plugin:OBJ) is left out: its "
                                "name is taken by package 'ignbench'"),
    "claim kind without a test": ("ignbench.claim_kinds", "lazy",
                                  "from dataclasses import replace\nfrom ignbench.verdict.kinds import GREATER\n"
                                  "OBJ = replace(GREATER, name='lazy', test=None)",
                                  "claim kind 'lazy' of package 'broken-plugin' (broken_plugin:OBJ) is left out: a "
                                  "claim kind needs a test"),
    "not a method": ("ignbench.methods", "stringy", "OBJ = 'naign'", "not an ignbench.methods.Method but a str"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_plugin_is_one_warning_and_the_built_ins_still_work(case, tmp_path):
    group, name, code, message = BROKEN[case]
    site = _plugin(tmp_path / "site", "broken-plugin", group, name, code)
    res = _ignbench("list", "--plugins", path=site, cwd=tmp_path)
    assert res.returncode == 0 and "Traceback" not in res.stderr
    warnings = [line for line in res.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and message in warnings[0]
    assert "  ign " in res.stdout and "  greater " in res.stdout  # the built-ins still load
    assert _ignbench("list", path=site, cwd=tmp_path).stdout.startswith("fig2_trimodal")


def _spec_of(method: str, tmp_path: Path) -> Path:
    """A small spec that runs one method."""
    spec = tmp_path / "s.toml"
    spec.write_text(f'[experiment]\nname = "s"\ntitle = "s"\nreport = "lowdim"\n[sweep]\nmethod = ["{method}"]\n'
                    '[config]\ndataset = "2moons"\ndistance = "l2"\neval_kind = "lowdim"\nbatch_size = 8\n'
                    'steps = 2\n[presets.paper]\n')
    return spec


def test_a_spec_naming_a_left_out_plugin_is_one_line_naming_it_and_writes_nothing(tmp_path):
    site = _plugin(tmp_path / "site", "broken-plugin", "ignbench.methods", "bad-import",
                   "raise ImportError('no module named torch_magic')")
    spec = _spec_of("bad-import", tmp_path)
    res = _ignbench("run", str(spec), "--store", str(tmp_path / "runs"), path=site, cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "method 'bad-import' of package 'broken-plugin'" in errors[0]
    assert "ImportError: no module named torch_magic" in errors[0]
    assert not (tmp_path / "runs").exists()


def test_a_plugin_method_whose_terms_give_no_tensor_fails_when_its_spec_loads(tmp_path):
    code = ("from ignbench.methods import Method\nfrom ignbench.methods.objectives import ign_loss\n"
            "OBJ = Method('hollow', 'Hollow', False, lambda f, b, cfg: {'rec': 0.0}, ign_loss, 1)\n")
    site = _plugin(tmp_path / "site", "hollow-plugin", "ignbench.methods", "hollow", code)
    spec = _spec_of("hollow", tmp_path)
    res = _ignbench("run", str(spec), "--store", str(tmp_path / "runs"), path=site, cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1] == ("error: method 'hollow': terms must be a dict of tensors, got dict "
                                                   "with 'rec' a float (on a probe batch)")
    assert not (tmp_path / "runs").exists()
