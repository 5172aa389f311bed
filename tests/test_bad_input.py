"""Every bad input ends in one line that names the field or file, exit code 2, and nothing written.

One table of cases: specs, claims, command lines, run stores damaged in every file, profiles and data."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import MINI_SPEC
from ignbench.cli import main

SPEC = MINI_SPEC
IMAGE_SPEC = SPEC.replace('dataset = "2moons"', 'dataset = "mnist-5k"').replace('"lowdim"', '"generation"') \
    .replace("hidden = 16", "model_width = 8\nlatent_dim = 16\nfk_steps = [1]\nfk_samples = 8")
CLAIM = '\n[[claims]]\nid = "c"\ntext = "t"\nkind = "greater"\nmetric = "coverage"\na = "naign"\nb = "naign"\n'


def _write(tmp: Path, text: str, name: str = "mini.toml") -> str:
    path = tmp / "specs" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return str(path)


def spec(text: str, *extra: str) -> Callable[[Path], list[str]]:
    """A `run` of a spec file with this text."""
    return lambda tmp: ["run", _write(tmp, text), "--store", str(tmp / "runs"), *extra]


def edit(old: str, new: str, base: str = SPEC) -> Callable[[Path], list[str]]:
    assert old in base, old
    return spec(base.replace(old, new, 1))


def add(line: str, base: str = SPEC) -> Callable[[Path], list[str]]:
    return edit("steps = 3", f"steps = 3\n{line}", base)


def command(*args: str) -> Callable[[Path], list[str]]:
    return lambda tmp: [*args, "--store", str(tmp / "runs")]


def cycle(tmp: Path) -> list[str]:
    for a, b in (("one", "two"), ("two", "one")):
        _write(tmp, f'[experiment]\nname = "{a}"\ntitle = "{a}"\nreport = "lowdim"\nsame_runs_as = "{b}"\n',
               f"{a}.toml")
    return ["--spec-dir", str(tmp / "specs"), "run", "one", "--store", str(tmp / "runs")]


def cycle_by_path(tmp: Path, loop: bool) -> list[str]:
    """same_runs_as naming its own file by path, or two files naming each other by path."""
    folder = tmp / "specs"
    folder.mkdir(parents=True, exist_ok=True)
    names = ("self", "self") if not loop else ("left", "right")
    for a, b in (names, names[::-1]):
        (folder / f"{a}.toml").write_text(f'[experiment]\nname = "{a}"\ntitle = "{a}"\nreport = "lowdim"\n'
                                          f'same_runs_as = "{folder / b}.toml"\n')
    return ["run", str(folder / f"{names[0]}.toml"), "--store", str(tmp / "runs")]


def stored(damage: Callable[[Path], None], *args: str) -> Callable[[Path], list[str]]:
    """A finished mini run (made once, copied), damaged, then a command on it."""
    def setup(tmp: Path) -> list[str]:
        import shutil

        shutil.copytree(STORE_TEMPLATE, tmp / "runs")
        _write(tmp, SPEC)
        damage(tmp / "runs" / "mini")
        return [arg.replace("SPEC", str(tmp / "specs" / "mini.toml")).replace("STORE", str(tmp / "runs"))
                for arg in args]

    return setup


def truncate_checkpoints(folder: Path) -> None:
    for path in folder.rglob("checkpoint*.pt"):
        path.write_bytes(path.read_bytes()[:64])


def profile(text: str) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        (tmp / "profile.toml").write_text(text)
        return ["run", _write(tmp, SPEC), "--executor", "slurm", "--profile", str(tmp / "profile.toml"), "--store",
                str(tmp / "runs")]

    return setup


CASES: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    # the spec's structure
    "not TOML": (spec("[experiment\nname="), "not valid TOML"),
    "unknown table": (spec(SPEC + "\n[extras]\na = 1\n"), "unknown key 'extras'"),
    "no [experiment]": (spec(SPEC.replace("[experiment]", "[experimentt]")), "unknown key 'experimentt'"),
    "unknown [experiment] key": (edit('title = "mini"', 'title = "mini"\ncolour = "red"'), "unknown key 'colour'"),
    "name escapes the store": (edit('name = "mini"', 'name = "../outside"'), "name '../outside' must be"),
    "name with a slash": (edit('name = "mini"', 'name = "a/b"'), "name 'a/b' must be"),
    "title not a string": (edit('title = "mini"', "title = 3"), "title must be a string"),
    "unknown report kind": (edit('report = "lowdim"', 'report = "pie"'), "report must be one of"),
    "seeds zero": (edit("seeds = 1", "seeds = 0"), "[experiment]: seeds must be an integer in [1, 1000], got 0"),
    "seeds a string": (edit("seeds = 1", 'seeds = "3"'), "seeds must be an integer in [1, 1000], got '3'"),
    "preset seeds zero": (spec(SPEC + "[presets.small]\nseeds = 0\n"),
                          "[presets.small]: seeds must be an integer in [1, 1000]"),
    "no presets": (spec(SPEC.replace("[presets.paper]", "").replace("[presets.smoke]", "")),
                   "needs at least one [presets.<name>] table"),
    "default preset missing": (edit('title = "mini"', 'title = "mini"\ndefault_preset = "big"'),
                               "default_preset 'big' is not a preset"),
    "preset not a table": (spec(SPEC.replace("[presets.paper]", "[presets]\npaper = 3")),
                           "[presets.paper]: must be a table"),
    "unknown figure kind": (edit('report = "lowdim"', 'report = "lowdim"\nfigures = ["pie"]'), "figures must be"),
    "stall threshold of 1.5": (edit('title = "mini"', 'title = "mini"\nstall_threshold = 1.5'),
                               "stall_threshold must lie strictly between 0 and 1, got 1.5"),
    "stall threshold a string": (edit('title = "mini"', 'title = "mini"\nstall_threshold = "low"'),
                                 "stall_threshold must lie strictly between 0 and 1, got 'low'"),
    "reference table missing": (edit('title = "mini"', 'title = "mini"\nreference = "nope.csv"'),
                                "reference 'nope.csv' is not a table"),
    # the sweep
    "sweep not a list": (edit('method = ["naign"]', 'method = "naign"'), "method must be a non-empty list"),
    "sweep empty": (edit('method = ["naign"]', "method = []"), "method must be a non-empty list"),
    "sweep unknown field": (edit('method = ["naign"]', 'method = ["naign"]\ndepth = [1]'), "unknown key 'depth'"),
    "sweep over seeds": (edit('method = ["naign"]', 'method = ["naign"]\nseed = [1, 2]'), "seed cannot be swept"),
    "sweep value of a wrong type": (edit('method = ["naign"]', 'method = ["naign"]\nlr = ["fast"]'),
                                    "lr must be float"),
    # run fields
    "unknown config key": (add("stepz = 4"), "unknown key 'stepz'"),
    "wrong type": (edit("batch_size = 8", 'batch_size = "eight"'), "batch_size must be int"),
    "bool for an int": (edit("steps = 3", "steps = true"), "steps must be int"),
    "unknown method": (edit('method = ["naign"]', 'method = ["gan"]'), "method = 'gan'"),
    "unknown dataset": (edit('dataset = "2moons"', 'dataset = "cifar"'), "dataset = 'cifar'"),
    "negative steps": (edit("steps = 3", "steps = -3"), "steps must lie in (0, 10,000,000], got -3"),
    "lr nan": (add("lr = nan"), "lr must be finite"),
    "lr inf": (add("lr = inf"), "lr must be finite"),
    "lr zero": (add("lr = 0.0"), "lr must lie in (0, 10], got 0.0"),
    "imle_m_factor nan": (add("imle_m_factor = nan"), "imle_m_factor must be finite"),
    "imle M zero": (add("imle_m_factor = 0.0"), "IMLE needs M > 0"),
    "replay probability above 1": (add("replay_prob = 1.5"), "replay_prob must lie in [0, 1], got 1.5"),
    "one beta": (add("betas = [0.9]"), "betas must be two numbers"),
    "beta of 1.5": (add("betas = [0.9, 1.5]"), "betas must be two numbers in [0, 1)"),
    "betas not numbers": (add('betas = ["a", "b"]'), "betas must be a list of numbers"),
    "image size 30": (add("image_size = 30"), "image_size must be 28, 32 or 64"),
    "fk step zero": (add("fk_steps = [0]"), "fk_steps must be a non-empty list"),
    "fk step fractional": (add("fk_steps = [1.5]"), "fk_steps must be a list of integers"),
    "mode share above 1": (add("mode_share = 2.0"), "mode_share must lie in [0, 1], got 2.0"),
    "negative curve spacing": (add("curve_every = -1"), "curve_every must lie in [0, 10,000,000], got -1"),
    "a batch of 2**63": (edit("batch_size = 8", "batch_size = 9223372036854775807"),
                         "batch_size must lie in (0, 65,536], got 9223372036854775807"),
    "1e15 steps": (edit("steps = 3", "steps = 1000000000000000"), "steps must lie in (0, 10,000,000]"),
    "seeds beyond the bound": (edit("seeds = 1", "seeds = 100000"), "seeds must be an integer in [1, 1000]"),
    "FID on toy data": (add("eval_fid = true"), "eval_fid needs an image dataset"),
    "FID flag not a bool": (add('eval_fid = "yes"'), "eval_fid must be bool"),
    "FFT prior on toy data": (add('prior = "fft"'), "prior 'fft' needs an image dataset"),
    "evaluation kind mismatch": (edit('eval_kind = "lowdim"', 'eval_kind = "generation"'),
                                 "eval_kind 'generation' does not fit dataset '2moons'"),
    "per-method unknown method": (spec(SPEC + "[per_method.gan]\nlr = 1.0\n"), "[per_method]: unknown method 'gan'"),
    "per-method unknown recipe": (spec(SPEC + '[per_method.naign]\nrecipe = "best"\n'), "unknown recipe 'best'"),
    "per-method not a table": (spec("per_method = 3\n" + SPEC), "malformed [per_method] table"),
    "a cell with 1 seed": (spec(SPEC + "[[presets.paper.cells]]\nmethod = \"naign\"\nseeds = 1\n"),
                           "cell 1: seeds must be an integer in [2, 1000]"),
    "a cell at an unknown level": (spec(SPEC + "[[presets.paper.cells]]\nmethod = \"gan\"\nseeds = 2\n"),
                                   "cell 1: method = 'gan' is not one of the swept levels"),
    "batch larger than the data": (edit("batch_size = 8", "batch_size = 6000", IMAGE_SPEC),
                                   "batch_size 6000 is larger than the 4000 training images of mnist-5k"),
    # specs that share runs
    "same_runs_as cycle": (cycle, "same_runs_as cycle one.toml -> two.toml -> one.toml"),
    "same_runs_as its own file by path": (lambda tmp: cycle_by_path(tmp, False),
                                          "same_runs_as cycle self.toml -> self.toml"),
    "same_runs_as two files by path": (lambda tmp: cycle_by_path(tmp, True),
                                       "same_runs_as cycle left.toml -> right.toml -> left.toml"),
    "same_runs_as with its own config": (edit('report = "lowdim"', 'report = "lowdim"\nsame_runs_as = "table1"'),
                                         "'config' cannot be set in a spec with same_runs_as"),
    "same_runs_as unknown spec": (spec('[experiment]\nname = "x"\ntitle = "x"\nreport = "lowdim"\n'
                                       'same_runs_as = "nope"\n'), "unknown experiment 'nope'"),
    "select an unswept field": (spec('[experiment]\nname = "x"\ntitle = "x"\nreport = "lowdim"\n'
                                     'same_runs_as = "fig3_modes2d"\nselect = {lr = [1.0]}\n'),
                                "select 'lr' is not swept"),
    # claims
    "claims not an array": (spec("claims = 3\n" + SPEC), "claims must be an array"),
    "claim with an unknown metric": (spec(SPEC + CLAIM.replace('"coverage"', '"sharpness"')),
                                     "unknown metric 'sharpness'"),
    "claim with an unknown method": (spec(SPEC + CLAIM.replace('b = "naign"', 'b = "ign"')),
                                     "unknown method 'ign'"),
    "claim with an unknown application": (spec(SPEC + CLAIM + 'application = "f(f(f(z)))"\n'),
                                          "unknown application 'f(f(f(z)))'"),
    # the command line
    "a huge plan on the command line": (command("run", "table1", "--seeds", "100000", "--dry-run"),
                                        "--seeds: seeds must be an integer in [1, 1000], got 100000"),
    "seeds 0 on the command line": (command("run", "table1", "--seeds", "0"),
                                    "--seeds: seeds must be an integer in [1, 1000], got 0"),
    "negative seeds": (command("run", "table1", "--seeds", "-2"), "--seeds: seeds must be an integer in [1, 1000]"),
    "unknown experiment": (command("run", "table9"), "unknown experiment 'table9'"),
    "spec file missing": (command("run", "nowhere/spec.toml"), "nowhere/spec.toml: no such spec file"),
    "unknown preset": (command("run", "table1", "--preset", "huge"), "unknown preset 'huge'"),
    "force and retry": (command("run", "table1", "--force", "--retry-failed"), "--force and --retry-failed exclude"),
    "checkpoint every 0": (command("run", "table1", "--checkpoint-every", "0"), "--checkpoint-every must be positive"),
    "store is a file": (lambda tmp: (tmp / "file").write_text("x") and ["run", "table1", "--preset", "smoke",
                                                                       "--store", str(tmp / "file")],
                        "exists and is not a folder"),
    "store not writable": (lambda tmp: ["run", _write(tmp, SPEC), "--store", "/proc/ignbench-store"],
                           "--store /proc/ignbench-store: not writable"),
    "spec folder missing": (lambda tmp: ["--spec-dir", str(tmp / "nope"), "list"], "--spec-dir: "),
    "status of an unknown experiment": (command("status", "nope"), "unknown experiment 'nope'"),
    "report without runs": (command("report", "table1"), "no runs of table1 in"),
    "report of an unknown preset": (command("report", "table1", "--preset", "huge"), "unknown preset 'huge'"),
    "verdict without runs": (command("verdict", "table1"), "no runs with claims of table1"),
    "evaluate without finished runs": (command("evaluate", "table1"), "no finished runs of table1"),
    "unknown Slurm profile": (command("run", "table1", "--executor", "slurm", "--profile", "nope"),
                              "unknown Slurm profile 'nope'"),
    "MNIST missing offline": (lambda tmp: ["run", _write(tmp, IMAGE_SPEC.replace('"mnist-5k"', '"mnist"')),
                                           "--data-root", str(tmp / "nowhere"), "--store", str(tmp / "runs")],
                              "MNIST not found under"),
    "CelebA missing offline": (lambda tmp: ["run", "ign_celeba", "--preset", "smoke", "--data-root", str(tmp / "no"),
                                            "--store", str(tmp / "runs")], "CelebA not found under"),
    "FFHQ-100 folder missing": (lambda tmp: ["run", "fig5_fewshot", "--preset", "paper", "--data-root", str(tmp),
                                             "--store", str(tmp / "runs")], "ffhq-100: found 0 images, expected 100"),
    "FFHQ-100 too few images": (lambda tmp: _images(tmp / "ffhq-100", 40, 64) and
                                ["run", "fig5_fewshot", "--preset", "paper", "--data-root", str(tmp), "--store",
                                 str(tmp / "runs")], "ffhq-100: found 40 images, expected 100"),
    "FFHQ-100 images too small": (lambda tmp: _images(tmp / "ffhq-100", 100, 32) and
                                  ["run", "fig5_fewshot", "--preset", "paper", "--data-root", str(tmp), "--store",
                                   str(tmp / "runs")], "32x32 pixels, expected a square image of at least 64x64"),
    "preset per-method size for an unknown method": (
        spec(SPEC + "[presets.smoke.per_method.vae]\nsteps = 2\n"), "[presets.smoke.per_method.vae]: unknown method"),
    "preset per-method unknown key": (
        spec(SPEC + "[presets.smoke.per_method.naign]\nstepz = 2\n"), "unknown key 'stepz'"),
    # profiles
    "profile with an unknown key": (profile("partition = 'debug'\nbogus = 1\n"), "unknown key 'bogus'"),
    "profile without a partition": (profile("account = 'x'\n"), "missing required key 'partition'"),
    "profile memory nan": (profile("partition = 'debug'\nmem_gb = nan\n"), "mem_gb must be a number >= 0"),
    "profile negative GPUs": (profile("partition = 'debug'\ngpus_per_node = -1\n"), "gpus_per_node must be a number"),
    "profile not TOML": (profile("partition = \n"), "not valid TOML"),
    # a damaged run store: one line from `evaluate`; the other commands note it (tests/test_trust.py)
    "evaluate on truncated checkpoints": (stored(truncate_checkpoints, "evaluate", "SPEC", "--store", "STORE"),
                                          "checkpoint.pt: corrupt checkpoint"),
}


@pytest.fixture(scope="module", autouse=True)
def _store_template(tmp_path_factory):
    """One finished run of the mini spec, copied into the cases that damage a store."""
    global STORE_TEMPLATE
    root = tmp_path_factory.mktemp("template")
    res = CliRunner().invoke(main, ["run", _write(root, SPEC), "--store", str(root / "runs")])
    assert res.exit_code == 0, res.output
    STORE_TEMPLATE = root / "runs"


def _files(root: Path) -> dict[Path, float]:
    return {p: p.stat().st_mtime for p in root.rglob("*") if p.is_file()}


def _images(folder: Path, n: int, side: int) -> bool:
    """n square gray PNGs of side x side pixels."""
    from PIL import Image

    folder.mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", (side, side), (i, i, i)).save(folder / f"{i:03d}.png")
    return True


def test_there_are_at_least_sixty_cases():
    assert len(CASES) >= 60


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IGNBENCH_OFFLINE", "1")
    monkeypatch.setenv("IGNBENCH_CACHE", str(tmp_path / "cache"))
    setup, message = CASES[case]
    args = setup(tmp_path)
    before = _files(tmp_path)
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, f"{case}: exit {res.exit_code}: {res.output}"
    assert res.output.count("\n") == 1 and res.output.startswith("error: "), res.output
    assert message in res.output, res.output
    assert _files(tmp_path) == before, "something was written"
    assert not os.path.exists(tmp_path / "outside")
