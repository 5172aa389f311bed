"""The `ignbench` command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ignbench.errors import UserError

INCEPTION_OPTION = click.option(
    "--inception-weights", type=click.Path(path_type=Path), default=None,
    help="InceptionV3 weights for FID (runs with eval_fid) where torch-fidelity cannot download them.")
STORE_OPTION = click.option("--store", "store_root", type=click.Path(path_type=Path), default=Path("results/runs"),
                            show_default=True, help="Run store folder.")


class Group(click.Group):
    """Turns a UserError anywhere below into one line on stderr and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """ignbench: reproduce the tables and figures of IGN (ICLR 2024) and NAIGN (ECAI 2025)."""


@main.command("list")
def list_cmd() -> None:
    """List the experiments (benchmarks/*.toml) with their presets."""
    from ignbench.spec import available_experiments, load_spec

    names = available_experiments()
    width = max(map(len, names), default=0) + 2
    for name in names:
        spec = load_spec(name)
        shared = f"  (reports the runs of {spec.runs_of})" if spec.runs_of != spec.name else ""
        click.echo(f"{name:<{width}}{spec.title}  [presets: {', '.join(spec.preset_names())}]{shared}")


@main.command()
@click.argument("experiment")
@click.option("--preset", default=None, help="paper (default), cpu or smoke: sizes only, never the method.")
@click.option("--seeds", type=int, default=None, help="Number of seeds (default: the spec's).")
@click.option("--executor", type=click.Choice(["local", "slurm"]), default="local", show_default=True)
@click.option("--profile", default="local", show_default=True, help="Slurm profile (slurm/profiles/NAME.toml).")
@click.option("--data-root", type=click.Path(path_type=Path), default=None,
              help="Folder holding MNIST (MNIST/raw); downloaded there when online.")
@click.option("--force", is_flag=True, help="Redo every run, finished or not (old results are deleted).")
@click.option("--retry-failed", is_flag=True, help="Redo failed, cancelled, timed-out and OOM runs.")
@click.option("--dry-run", is_flag=True, help="Show the plan and its estimated cost; run nothing.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Slurm: follow the job array.")
@click.option("--checkpoint-every", type=int, default=500, show_default=True, help="Steps between checkpoints.")
@INCEPTION_OPTION
@STORE_OPTION
def run(experiment: str, preset: str | None, seeds: int | None, executor: str, profile: str,
        data_root: Path | None, force: bool, retry_failed: bool, dry_run: bool, wait: bool,
        checkpoint_every: int, inception_weights: Path | None, store_root: Path) -> None:
    """Train and evaluate every run of EXPERIMENT that is not finished yet."""
    from ignbench import plan as planning
    from ignbench.spec import load_spec
    from ignbench.store import Store

    if seeds is not None and seeds <= 0:
        raise UserError(f"--seeds must be a positive integer, got {seeds}")
    if checkpoint_every <= 0:
        raise UserError(f"--checkpoint-every must be positive, got {checkpoint_every}")
    spec = load_spec(experiment)
    preset = preset or spec.default_preset
    store = Store(store_root)
    plan = planning.make_plan(spec, preset, seeds, store, force, retry_failed)
    if not dry_run:
        _check_data(plan.todo, data_root)
        _check_fid(plan.todo, inception_weights)
    _print_plan(plan, executor)
    if dry_run or not plan.todo:
        return
    _warn_if_paper_on_cpu(preset, executor, spec.name)
    if force:
        planning.reset_forced(plan, store)
    if executor == "local":
        from ignbench.launch.local import run_local

        results = run_local(plan.todo, store, data_root, checkpoint_every)
        from ignbench.store import count_states

        click.echo(f"finished: {count_states(results.values())}")
    else:
        from ignbench.launch.slurm import submit

        submit(plan.todo, store, profile, data_root, checkpoint_every, wait)


def _print_plan(plan, executor: str) -> None:
    """Every run still to do, with a rough cost measured on this machine's device."""
    from ignbench.plan import estimate_seconds, human_duration
    from ignbench.train import pick_device

    device = str(pick_device())
    from ignbench.store import count_states

    shared = f" (the runs of {plan.spec.runs_of})" if plan.spec.runs_of != plan.spec.name else ""
    click.echo(f"{plan.spec.name} [{plan.preset}]: {len(plan.runs)} runs{shared} "
               f"({count_states(plan.states.values())}); {len(plan.todo)} to do")
    total = 0.0
    for cfg in plan.todo:
        seconds = estimate_seconds(cfg, device)
        total += seconds
        extra = f" M={cfg.resolved_imle_m}" if cfg.method != "ign" else ""
        click.echo(f"  {cfg.run_id}  {cfg.method:<7} {cfg.dataset:<12} seed {cfg.seed}  "
                   f"{cfg.steps} steps x batch {cfg.batch_size}{extra}  ~{human_duration(seconds)}")
    if plan.todo:
        note = "; cluster GPUs: see REPRODUCE.md for GPU-hours" if executor == "slurm" else ""
        click.echo(f"estimated cost: ~{human_duration(total)} on this machine's {device} "
                   f"(rough: forward passes x measured per-sample time{note})")


def _warn_if_paper_on_cpu(preset: str, executor: str, name: str) -> None:
    import torch

    if preset == "paper" and executor == "local" and not torch.cuda.is_available():
        click.echo(f"warning: the paper preset on CPU takes days; for a laptop-sized version run "
                   f"`ignbench run {name} --preset cpu`", err=True)


def _check_fid(runs, weights: Path | None) -> None:
    """Runs that score FID need InceptionV3: make its weights findable (env, for local and Slurm jobs alike)
    and fail before anything is written when they cannot be had."""
    if not any(cfg.eval_fid for cfg in runs):
        return
    from ignbench.metrics.fid import WEIGHTS_ENV, check_fid_available

    if weights is not None:
        os.environ[WEIGHTS_ENV] = str(weights.resolve())
    check_fid_available()


def _check_data(runs, data_root: Path | None) -> None:
    """Fail before writing anything if a dataset is missing."""
    from ignbench.data import load_data

    seen = set()
    for cfg in runs:
        if cfg.dataset not in seen:
            seen.add(cfg.dataset)
            load_data(cfg, data_root)


@main.command()
@click.argument("experiment")
@click.option("--preset", default=None, help="paper (default), cpu or smoke.")
@click.option("--seeds", type=int, default=None, help="Number of seeds (default: the spec's).")
@click.option("--data-root", type=click.Path(path_type=Path), default=None, help="Folder holding MNIST.")
@INCEPTION_OPTION
@STORE_OPTION
def evaluate(experiment: str, preset: str | None, seeds: int | None, data_root: Path | None,
             inception_weights: Path | None, store_root: Path) -> None:
    """Re-evaluate EXPERIMENT's finished runs from their checkpoints (no retraining)."""
    from tqdm.auto import tqdm

    from ignbench.spec import load_spec
    from ignbench.store import Store
    from ignbench.train import reevaluate_run

    spec = load_spec(experiment)
    store = Store(store_root)
    runs = [c for c in spec.expand(preset or spec.default_preset, seeds) if store.state(c) == "done"]
    if not runs:
        raise UserError(f"no finished runs of {experiment} to evaluate in {store_root}")
    _check_fid(runs, inception_weights)
    for cfg in tqdm(runs, desc="evaluating", unit="run"):
        reevaluate_run(cfg, store, data_root)
    click.echo(f"re-evaluated {len(runs)} run(s)")


@main.command()
@click.argument("experiment")
@click.option("--preset", default=None, help="Only this preset (default: all).")
@STORE_OPTION
def status(experiment: str, preset: str | None, store_root: Path) -> None:
    """Show the state of every run of EXPERIMENT (merged with Slurm's view for submitted runs)."""
    from ignbench.spec import load_spec
    from ignbench.status import status_rows
    from ignbench.store import Store

    name = experiment if experiment in Store(store_root).experiments() else load_spec(experiment).runs_of
    rows = status_rows(name, preset, Path(store_root))
    if not rows:
        click.echo(f"no runs of {experiment} in {store_root}; start with `ignbench run {experiment}`")
        return
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


@main.command()
@click.argument("experiment", required=False)
@click.option("--preset", default=None, help="Only this preset (default: every preset with results).")
@click.option("--out", "out_root", type=click.Path(path_type=Path), default=Path("results/reports"),
              show_default=True, help="Where tables, figures and index.html go.")
@STORE_OPTION
def report(experiment: str | None, preset: str | None, out_root: Path, store_root: Path) -> None:
    """Tables (Markdown to stdout; CSV, LaTeX) and figures (PNG, HTML) from the run store."""
    from ignbench.report import presets_with_results, render_markdown, report_experiment
    from ignbench.report.html import write_html
    from ignbench.spec import available_experiments, load_spec
    from ignbench.store import Store

    store = Store(store_root)
    names = [experiment] if experiment else available_experiments()
    sections = []
    for name in names:
        spec = load_spec(name)
        presets = [preset] if preset else presets_with_results(spec, store)
        if experiment and not presets:
            raise UserError(f"no finished runs of {name} in {store_root}; "
                            f"produce them with `ignbench run {name} --preset cpu`")
        for p in presets:
            if p not in spec.presets:
                raise UserError(f"{spec.path.name}: unknown preset {p!r}")
            section = report_experiment(spec, p, store, out_root)
            sections.append(section)
            click.echo(render_markdown(section))
    if not sections:
        raise UserError(f"no results in {store_root}; run an experiment first, e.g. "
                        f"`ignbench run table1 --preset cpu`")
    page = out_root / ("index.html" if not experiment else f"{experiment}.html")
    write_html(sections, page)
    click.echo(f"wrote {page} and tables/figures under {out_root}/<preset>/")


@main.group()
def fld() -> None:
    """The LeNet behind FLD: train it by the shipped recipe, or print sanity values."""


@fld.command("train")
@click.option("--dataset", type=click.Choice(["mnist-5k", "mnist"]), default="mnist-5k", show_default=True)
@click.option("--data-root", type=click.Path(path_type=Path), default=None)
@click.option("--epochs", type=int, default=15, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("lenet5.pt"), show_default=True)
def fld_train(dataset: str, data_root: Path | None, epochs: int, out: Path) -> None:
    """Train the FLD LeNet-5 by ignbench's recipe and write its weights and sha256."""
    import torch

    from ignbench.data.images import load_labelled
    from ignbench.metrics.lenet import accuracy, sha256, train_lenet

    train_x, train_y, test_x, test_y = load_labelled(dataset, 32, data_root)
    model = train_lenet(train_x, train_y, epochs=epochs)
    torch.save(model.state_dict(), out)
    click.echo(f"test accuracy {accuracy(model, test_x, test_y):.4f}; wrote {out} (sha256 {sha256(out)})")


@fld.command("sanity")
@click.option("--dataset", type=click.Choice(["mnist-5k", "mnist"]), default="mnist-5k", show_default=True)
@click.option("--data-root", type=click.Path(path_type=Path), default=None)
@click.option("--weights", type=click.Path(path_type=Path, exists=True), default=None,
              help="LeNet weights (default: the shipped, sha256-pinned ones).")
def fld_sanity(dataset: str, data_root: Path | None, weights: Path | None) -> None:
    """FLD(test, test), FLD(train, test) and FLD(noise, test): the checks REPRODUCE.md quotes."""
    import torch

    from ignbench.data.images import load_labelled
    from ignbench.metrics.fld import lenet_features
    from ignbench.metrics.frechet import frechet_distance_features

    train_x, _, test_x, _ = load_labelled(dataset, 32, data_root)
    n = min(len(test_x), 10000)
    test_f = lenet_features(test_x[:n], weights)
    g = torch.Generator().manual_seed(0)
    train_subset = train_x[torch.randperm(len(train_x), generator=g)[:n]]  # mnist-5k is sorted by class
    noise = torch.randn(n, 1, 32, 32, generator=g).clamp(-1, 1)
    for label, images in (("test", test_x[:n]), ("train", train_subset), ("noise", noise)):
        value = frechet_distance_features(lenet_features(images, weights), test_f)
        click.echo(f"FLD({label}, test) = {value:.3f}   [{dataset}, n = {n}]")


if __name__ == "__main__":
    sys.exit(main())
