"""The `ignbench` command line."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import click

from ignbench.core.errors import UserError

INCEPTION_OPTION = click.option(
    "--inception-weights", type=click.Path(path_type=Path), default=None,
    help="InceptionV3 weights for FID (runs with eval_fid) where torch-fidelity cannot download them.")
STORE_OPTION = click.option("--store", "store_root", type=click.Path(path_type=Path), default=Path("results/runs"),
                            show_default=True, help="Run store folder.")
PRESET_OPTION = click.option("--preset", default=None,
                             help="paper (the default of every shipped spec), cpu or smoke: sizes only, never the "
                                  "method.")
SEEDS_OPTION = click.option("--seeds", type=int, default=None, help="Number of seeds (default: the preset's).")
DATA_OPTION = click.option("--data-root", type=click.Path(path_type=Path), default=None,
                           help="Folder holding MNIST (MNIST/raw); downloaded there when online.")
EXECUTOR_OPTIONS = [
    click.option("--executor", type=click.Choice(["local", "slurm"]), default="local", show_default=True),
    click.option("--profile", default="local", show_default=True,
                 help="Slurm profile: a name in slurm/profiles/ or a path to a .toml."),
    click.option("--wait/--no-wait", default=True, show_default=True, help="Slurm: follow the job array."),
    click.option("--jobs", type=int, default=1, show_default=True,
                 callback=lambda _ctx, _param, jobs: _check_jobs(jobs),
                 help="Local: groups of runs trained at once, in worker processes that share this process's torch "
                      "threads (small models use a CPU better side by side)."),
]


VERDICT_OPTIONS = [
    click.option("--adjust", type=click.Choice(["holm", "bh", "none"]), default="holm", show_default=True,
                 help="Family control over each report's claims per BatchNorm mode: holm (family-wise error), bh "
                      "(Benjamini-Hochberg, false discoveries) or none."),
    click.option("--until-decided", is_flag=True,
                 help="Sequential design: seeds in rounds of 3 up to --max-seeds, alpha split over the looks; each "
                      "claim stops at its first decision."),
    click.option("--max-seeds", type=int, default=None, help="With --until-decided: the most seeds per side."),
]


def verdict_options(f):
    for option in reversed(VERDICT_OPTIONS):
        f = option(f)
    return f


def _policy(adjust: str, until_decided: bool, max_seeds: int | None, seeds: int | None):
    """The decision policy of --adjust / --until-decided / --max-seeds, or a one-line error."""
    from ignbench.verdict.card import Policy
    from ignbench.verdict.sequential import ROUND

    if until_decided:
        if seeds is not None:
            raise UserError("--until-decided adds seeds in rounds of 3 up to --max-seeds: drop --seeds")
        if max_seeds is None:
            raise UserError("--until-decided needs --max-seeds (the most seeds per side)")
        if max_seeds < ROUND:
            raise UserError(f"--max-seeds must be at least the first round's {ROUND} seeds, got {max_seeds}")
    elif max_seeds is not None:
        raise UserError("--max-seeds is for --until-decided")
    return Policy(adjust=adjust, max_seeds=max_seeds if until_decided else None)


def _check_jobs(jobs: int) -> int:
    """--jobs as given, or a one-line error (click's own range check prints its usage too)."""
    if jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {jobs}")
    return jobs


def executor_options(f):
    for option in reversed(EXECUTOR_OPTIONS):
        f = option(f)
    return f


class Group(click.Group):
    """Turns a UserError anywhere below into one line on stderr and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except click.UsageError as exc:  # a bad option value: one line, not click's usage block
            command = f"{ctx.command_path} {exc.ctx.info_name}" if exc.ctx and exc.ctx is not ctx else ctx.command_path
            click.echo(f"error: {exc.format_message()} (see `{command} --help`)", err=True)
            ctx.exit(2)


def _version() -> str:
    from ignbench.core.version import __version__

    return __version__


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), prog_name="ignbench")
@click.option("--spec-dir", "spec_dirs", multiple=True, type=click.Path(path_type=Path),
              help="A folder of your own specs (*.toml), searched before the shipped ones; repeatable. "
                   "Also: IGNBENCH_SPEC_PATH=dir1:dir2.")
def main(spec_dirs: tuple[Path, ...]) -> None:
    """ignbench: reproduce the tables, figures and claims of IGN (ICLR 2024) and NAIGN (ECAI 2025).

    An EXPERIMENT is a spec name (`ignbench list`) or a path to a spec file.
    """
    from ignbench.core.resources import set_cli_spec_dirs

    set_cli_spec_dirs(list(spec_dirs))


@main.command("list")
@click.option("--plugins", "show_plugins", is_flag=True,
              help="List the installed methods, metrics, datasets and claim kinds, and the package of each.")
def list_cmd(show_plugins: bool) -> None:
    """List the experiments with their presets and number of claims (or, with --plugins, what is installed)."""
    if show_plugins:
        _list_plugins()
        return
    from ignbench.spec import available_experiments, load_spec

    names = available_experiments()
    width = max(map(len, names), default=0) + 2
    for name in names:
        try:
            spec = load_spec(name)
        except UserError as exc:  # one broken spec in a folder must not hide the others
            click.echo(f"warning: {name} does not load: {exc}", err=True)
            continue
        shared = f"  (reports the runs of {spec.runs_of})" if spec.runs_of != spec.name else ""
        click.echo(f"{name:<{width}}{spec.title}  [presets: {', '.join(spec.preset_names())}; "
                   f"{len(spec.claims)} claims]{shared}")


def _list_plugins() -> None:
    """Every entry of every plugin group: name, package and version, and whether it loaded."""
    from ignbench.core import plugins
    from ignbench.core.config import datasets
    from ignbench.core.measures import MEASURES  # noqa: F401 - loads the metrics group
    from ignbench.methods import METHODS  # noqa: F401 - loads the methods group
    from ignbench.report.kinds import report_kinds
    from ignbench.verdict.kinds import KINDS  # noqa: F401 - loads the claim kinds group

    datasets()
    report_kinds()
    for kind in plugins.GROUPS:
        entries = plugins.plugins(kind)
        click.echo(f"{plugins.GROUPS[kind]} ({len([e for e in entries if not e.problem])} loaded):")
        for e in entries:
            state = f"LEFT OUT: {e.problem}" if e.problem else "ok"
            click.echo(f"  {e.name:<18} {e.package} {e.version:<10} {e.target}  {state}")


@main.command("show-config")
def show_config() -> None:
    """The reference of spec keys: every run field (group, type, default, meaning), then the spec's tables."""
    from ignbench.core.config import describe_fields
    from ignbench.spec import EXPERIMENT_KEYS, TOP_LEVEL
    from ignbench.spec.claims import CLAIM_KEYS
    from ignbench.verdict.kinds import KINDS

    click.echo("Run fields ([config], [per_method.<method>], [presets.<name>], [sweep]); training fields make the run "
               "id, evaluation fields the evaluation id:\n")
    rows = [("field", "group", "type", "default", "meaning"), *describe_fields()]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row[:4], widths, strict=True)) + "  " + row[4])
    click.echo(f"\nSpec tables: {', '.join(sorted(TOP_LEVEL))}")
    click.echo(f"[experiment] keys: {', '.join(sorted(EXPERIMENT_KEYS))}")
    click.echo("[per_method.<method>] also takes recipe = \"listing\" or \"appendix\" (IGN's two recipes); "
               "[presets.<name>] also takes seeds")
    click.echo(f"[[claims]] keys: {', '.join(sorted(CLAIM_KEYS))}; kinds: {', '.join(KINDS)} "
               "(see `python -c 'import ignbench.spec.claims; help(ignbench.spec.claims)'`)")


def _plans(experiments: tuple[str, ...], preset: str | None, seeds: int | None, store, force: bool = False,
           retry_failed: bool = False) -> list:
    from ignbench import plan as planning
    from ignbench.spec import check_seeds, load_spec

    if seeds is not None:
        check_seeds(seeds, "--seeds")
    plans = []
    for experiment in experiments:
        spec = load_spec(experiment)
        plans.append(planning.make_plan(spec, preset or spec.default_preset, seeds, store, force, retry_failed))
    return plans


@main.command()
@click.argument("experiments", nargs=-1, required=True)
@PRESET_OPTION
@SEEDS_OPTION
@executor_options
@DATA_OPTION
@click.option("--force", is_flag=True, help="Redo every run, finished or not (old results are deleted).")
@click.option("--retry-failed", is_flag=True,
              help="Redo failed, cancelled, timed-out and OOM runs (a run with no readable checkpoint restarts).")
@click.option("--dry-run", is_flag=True, help="Show the plan and its cost measured on this machine; run nothing.")
@click.option("--checkpoint-every", type=int, default=500, show_default=True, help="Steps between checkpoints.")
@INCEPTION_OPTION
@verdict_options
@STORE_OPTION
def run(experiments: tuple[str, ...], preset: str | None, seeds: int | None, executor: str, profile: str,
        wait: bool, jobs: int, data_root: Path | None, force: bool, retry_failed: bool, dry_run: bool,
        checkpoint_every: int, inception_weights: Path | None, adjust: str, until_decided: bool,
        max_seeds: int | None, store_root: Path) -> None:
    """Train and evaluate every run of the EXPERIMENTS that is not finished yet.

    EXPERIMENTS are spec names (`ignbench list`), paths to spec files, or names in your --spec-dir folders.
    Low-dimensional runs that share a shape train together as one stacked ensemble, across experiments too.
    Exit code 1 when a run failed; a diverged run is a result (exit 0). --dry-run also says, per claim, whether
    the planned seeds can decide it and how many it needs. --until-decided adds seeds in rounds of 3 until every
    claim is decided or --max-seeds is reached; rerun the same command to resume it.
    """
    from ignbench.spec import load_spec
    from ignbench.store import Store

    if checkpoint_every <= 0:
        raise UserError(f"--checkpoint-every must be positive, got {checkpoint_every}")
    policy = _policy(adjust, until_decided, max_seeds, seeds)
    if policy.max_seeds and (force or (executor == "slurm" and not wait)):
        raise UserError("--until-decided resumes from the store and decides between rounds: drop --force and "
                        "--no-wait")
    store = Store(store_root)
    if executor == "slurm":
        _check_slurm(profile, jobs)
    if not dry_run:
        _reconcile_slurm(store, [load_spec(e).runs_of for e in experiments])
    launch = {"executor": executor, "profile": profile, "wait": wait, "jobs": jobs, "data_root": data_root,
              "checkpoint_every": checkpoint_every, "restart_corrupt": retry_failed}
    rounds = [seeds] if not policy.max_seeds or dry_run else looks_of(policy.max_seeds)
    for round_seeds in rounds:
        plan_seeds = policy.max_seeds if dry_run and policy.max_seeds else round_seeds
        plans = _plans(experiments, preset, plan_seeds, store, force, retry_failed)
        if dry_run:
            _print_plans(plans, _unique(cfg for p in plans for cfg in p.todo), executor, jobs)
            _print_prospects(plans, store, policy)
            return
        _run_round(plans, store, experiments, force, inception_weights, launch)
        if policy.max_seeds and _all_decided(plans, store, policy, round_seeds):
            break


def _run_round(plans: list, store, experiments: tuple[str, ...], force: bool, inception_weights: Path | None,
               launch: dict) -> None:
    """Check, print and execute what the plans still have to do; damaged runs are named, and make the exit code 1."""
    todo = _unique(cfg for p in plans for cfg in p.todo)
    if todo:  # a read-only store with nothing to do is fine
        store.check_writable()
    _check_data(todo, launch["data_root"])
    _check_fid(todo, inception_weights)
    _check_devices(todo, launch["executor"], launch["profile"])
    _print_plans(plans, todo, launch["executor"], launch["jobs"])
    results = {}
    if todo:
        _warn_if_paper_on_cpu(plans, launch["executor"])
        if force:
            from ignbench.plan import reset_forced

            reset_forced(plans, store)
        results = _execute(todo, store, evaluate_only=False, **launch)
    damaged = {run: problem for p in plans for run, problem in p.damaged.items()}
    for problem in damaged.values():
        click.echo(f"error: damaged run, left alone: {problem}", err=True)
    _finish(results, experiments, failed_already=bool(damaged))


def _reconcile_slurm(store, experiments: list[str]) -> None:
    """The explicit step that writes Slurm's final states of submitted runs into the store (`run`, `status
    --refresh`); nothing happens where no Slurm is installed."""
    from ignbench.launch.slurm import refresh_slurm_states

    for name in dict.fromkeys(experiments):
        refresh_slurm_states(list(store.iter_runs(name)))


def looks_of(max_seeds: int) -> list[int]:
    from ignbench.verdict.sequential import looks

    return looks(max_seeds)


def _all_decided(plans: list, store, policy, round_seeds: int) -> bool:
    """After a round of --until-decided: print each claim's state; True when no claim holds the next round open
    (`still_open`: undecided after the family's adjustment and decidable by --max-seeds)."""
    from ignbench.report.terminal import claim_lines
    from ignbench.store.frames import curves_frame, results_frame
    from ignbench.verdict.card import decide_claims
    from ignbench.verdict.sequential import still_open

    open_claims, futile, spent = 0, [], 0
    for p in plans:
        runs = p.spec.expand(p.preset, policy.max_seeds)
        decisions = decide_claims(p.spec.claims, results_frame(runs, store), curves_frame(runs, store), policy)
        open_claims += sum(still_open(d, policy.max_seeds) for d in decisions)
        futile += [f"{p.spec.name}/{d.claim.id} ({d.bn_mode})" for d in decisions
                   if d.verdict not in ("reproduced", "contradicted") and not still_open(d, policy.max_seeds)]
        spent = max([spent, *(d.seeds_spent or 0 for d in decisions)])
        click.echo(f"after the look at {round_seeds} seeds:")
        click.echo("\n".join(claim_lines(p.spec.name, decisions)))
    if round_seeds == policy.max_seeds and open_claims:
        click.echo(f"{open_claims} claim verdict(s) still open at --max-seeds {policy.max_seeds}")
    elif not open_claims and not futile:
        click.echo(f"every claim decided by {spent} seeds")
    elif not open_claims:
        click.echo(f"stopping at {round_seeds} seeds: every claim is decided or needs more than --max-seeds "
                   f"{policy.max_seeds} at its effect: " + ", ".join(futile))
    return not open_claims


def _print_prospects(plans: list, store, policy) -> None:
    """Per claim: can the planned seeds decide it at all, after the family's adjustment whatever the other claims
    show (raw p <= alpha / claims), what they would detect, what it needs."""
    from ignbench.report.tables import load_paper
    from ignbench.store.frames import results_frame
    from ignbench.verdict.family import level_alone
    from ignbench.verdict.power import MAX_SEEDS
    from ignbench.verdict.prospects import prospect

    for p in plans:
        if not p.spec.claims:
            continue
        runs = results_frame(p.runs, store).drop_duplicates("run_id")
        paper = load_paper(p.spec.reference)
        level = level_alone(policy.alpha, len(p.spec.claims), policy.adjust)
        click.echo(f"{p.spec.name} [{p.preset}]: what {len(set(runs['seed']))} seeds can decide (alpha "
                   f"{policy.alpha:g}, {policy.adjust} over {len(p.spec.claims)} claims: a raw p <= {level:.2g} is "
                   "decided whatever the other claims show)")
        for claim in p.spec.claims:
            pr = prospect(claim, runs, paper, policy.alpha, level)
            can = ("can decide" if pr.decidable_alone else
                   "can decide only where the family's other claims are decided" if pr.decidable else
                   "CANNOT decide (exact test)")
            seen = "" if pr.detectable != pr.detectable else f", detects {pr.detectable:.3g} at the paper's spread"
            need = (f"> {MAX_SEEDS}" if pr.seeds_needed is None else str(pr.seeds_needed))
            need = f"needs {need} seeds per side " + (f"for the paper's difference ({pr.basis})"
                                                       if pr.basis.startswith("paper")
                                                       else "for its exact test to reach that level")
            click.echo(f"  {claim.id:<40.40} n {'/'.join(map(str, pr.n))}: {can} (min p {pr.min_p:.2g}){seen}; "
                       f"{need}")


def _unique(cfgs) -> list:
    seen, out = set(), []
    for cfg in cfgs:
        if (cfg.experiment, cfg.run_id) not in seen:
            seen.add((cfg.experiment, cfg.run_id))
            out.append(cfg)
    return out


def _execute(todo: list, store, executor: str, profile: str, wait: bool, jobs: int, data_root: Path | None,
             checkpoint_every: int, restart_corrupt: bool, evaluate_only: bool) -> dict[str, str] | None:
    """Run the configs here or on Slurm; each run's final state (None when submitted without waiting)."""
    if executor == "local":
        from ignbench.launch.local import run_local

        return run_local(todo, store, data_root, checkpoint_every, restart_corrupt, evaluate_only, jobs)
    from ignbench.launch.slurm import submit

    return submit(todo, store, profile, data_root, checkpoint_every, wait, restart_corrupt, evaluate_only)


def _finish(results: dict[str, str] | None, experiments: tuple[str, ...], failed_already: bool = False) -> None:
    """Summarise; exit 1 when a run failed, was blocked or is damaged (a diverged run is a result, not a failure)."""
    from ignbench.store import FAILED, State, count_states
    from ignbench.store.lock import UNREADABLE_GRACE
    from ignbench.train import BLOCKED, HELD

    if results is None:  # submitted without waiting
        return
    blocked = [s for s in results.values() if s.startswith(BLOCKED)]
    results = {r: (BLOCKED if s.startswith(BLOCKED) else s) for r, s in results.items()}
    if results:
        click.echo(f"finished: {count_states(results.values())}")
    for reason in blocked:
        click.echo(f"error: {reason}; it is broken as stale {UNREADABLE_GRACE:g} s after it was written, or delete it",
                   err=True)
    states = list(results.values())
    names = " ".join(experiments)
    if State.DIVERGED in states:
        click.echo(f"note: {states.count(State.DIVERGED)} run(s) diverged (a non-finite loss); that is a result, "
                   "and the report marks them")
    if HELD in states:
        click.echo(f"note: {states.count(HELD)} run(s) are being worked on by another process; "
                   f"`ignbench status {names}` follows them")
    failed = [s for s in states if s in FAILED or s == State.INTERRUPTED]
    if failed:
        click.echo(f"error: {len(failed)} run(s) failed or were interrupted; `ignbench status {names}` shows why; "
                   "rerun to resume an interrupted one, `--retry-failed` redoes failed ones", err=True)
    if failed or blocked or failed_already:
        sys.exit(1)


def _print_plans(plans: list, todo: list, executor: str, jobs: int) -> None:
    """Every run still to do, with its cost measured on this machine (stacked runs are costed as their stack);
    with --jobs, each group is timed on a worker's share of the threads and the total is the wall time of the
    groups taken in order by the first free worker."""
    from ignbench.launch.local import worker_count, worker_threads
    from ignbench.methods import METHODS
    from ignbench.plan import estimate, human_duration, makespan
    from ignbench.store import count_states
    from ignbench.train import pick_device, stack_groups

    for p in plans:
        shared = f" (the runs of {p.spec.runs_of})" if p.spec.runs_of != p.spec.name else ""
        click.echo(f"{p.spec.name} [{p.preset}]: {len(p.runs)} runs{shared} ({count_states(p.states.values())}); "
                   f"{len(p.todo)} to do")
    if not todo:
        return
    side_by_side = worker_count(jobs, len(stack_groups(todo))) if executor == "local" else 1
    notes: set[str] = set()
    costs = estimate(todo, notes, threads=worker_threads(side_by_side) if side_by_side > 1 else None)
    for group, seconds in costs:
        cfg = group[0]
        extra = f" M={cfg.resolved_imle_m}" if METHODS[cfg.method].imle else ""
        what = (f"{cfg.run_id}  {cfg.method:<7} {cfg.dataset:<12} seed {cfg.seed}" if len(group) == 1 else
                f"{len(group)} runs stacked: {cfg.method:<7} {', '.join(sorted({c.dataset for c in group}))}, "
                f"seeds {', '.join(map(str, sorted({c.seed for c in group})))}")
        click.echo(f"  {what}  {cfg.steps} steps x batch {cfg.batch_size}{extra}  ~{human_duration(seconds)}")
    total = makespan([seconds for _, seconds in costs], side_by_side)
    note = " (a cluster runs the groups in parallel: see REPRODUCE.md for GPU-hours)" if executor == "slurm" else ""
    if side_by_side > 1:
        note = f" ({side_by_side} groups at a time, {worker_threads(side_by_side)} thread(s) each)"
    click.echo(f"estimated cost: ~{human_duration(total)} on this machine's {pick_device()} "
               f"(calibrated by timing real steps here){note}")
    for line in sorted(notes):
        click.echo(f"  note: {line}")


def _check_devices(todo: list, executor: str, profile: str) -> None:
    """Runs planned for CUDA need one here, or a Slurm profile with GPUs."""
    import torch

    cuda = [cfg for cfg in todo if cfg.device == "cuda"]
    if cuda and executor == "local" and not torch.cuda.is_available():
        raise UserError(f"{len(cuda)} run(s) of {cuda[0].experiment} are planned for CUDA (their preset's device) and "
                        "this machine has none: use a GPU machine, or --executor slurm with a GPU profile; "
                        f"--preset cpu is the laptop-sized experiment")
    if cuda and executor == "slurm":
        from ignbench.launch.profile import load_profile

        if load_profile(profile).gpus_per_node <= 0:
            raise UserError(f"Slurm profile {profile!r} requests no GPU, and {len(cuda)} run(s) are planned for CUDA")


def _warn_if_paper_on_cpu(plans: list, executor: str) -> None:
    import torch

    paper = [p.spec.name for p in plans if p.preset == "paper"]
    if paper and executor == "local" and not torch.cuda.is_available():
        click.echo(f"warning: the paper preset on CPU takes days; for a laptop-sized version run "
                   f"`ignbench run {' '.join(paper)} --preset cpu`", err=True)


def _check_slurm(profile: str, jobs: int) -> None:
    """A bad profile, or no cluster, stops the command before anything is printed or written."""
    from ignbench.launch.profile import load_profile
    from ignbench.launch.slurm import check_cluster

    if jobs > 1:
        raise UserError("--jobs is for --executor local; on Slurm every group is an array task, and the profile's "
                        "array_parallelism bounds how many run at once")
    check_cluster(load_profile(profile))


def _check_fid(runs, weights: Path | None) -> None:
    """Runs that score FID need InceptionV3: make its weights findable (env, for local and Slurm jobs alike)
    and fail before anything is written when they cannot be had."""
    if not any(cfg.eval_fid for cfg in runs):
        return
    from ignbench.evaluate.metrics.fid import WEIGHTS_ENV, check_fid_available

    if weights is not None:
        os.environ[WEIGHTS_ENV] = str(weights.resolve())
    check_fid_available()


def _check_data(runs, data_root: Path | None) -> None:
    """Fail before writing anything if a dataset is missing or too small for a run."""
    from ignbench.data import load_data

    seen = set()
    for cfg in runs:
        key = (cfg.dataset, cfg.image_size, cfg.batch_size)
        if key not in seen:
            seen.add(key)
            load_data(cfg, data_root)


@main.command()
@click.argument("experiments", nargs=-1, required=True)
@PRESET_OPTION
@SEEDS_OPTION
@executor_options
@DATA_OPTION
@click.option("--checkpoint-every", type=int, default=500, hidden=True)
@INCEPTION_OPTION
@STORE_OPTION
def evaluate(experiments: tuple[str, ...], preset: str | None, seeds: int | None, executor: str, profile: str,
             wait: bool, jobs: int, data_root: Path | None, checkpoint_every: int, inception_weights: Path | None,
             store_root: Path) -> None:
    """Score the finished runs of EXPERIMENTS again from their final checkpoints (no training).

    Evaluation settings that differ from a run's earlier ones add an evaluation beside the old one (its own
    evaluation id); the same settings replace it. Locally or on Slurm, with the same status handling as `run`.
    """
    from ignbench.store import State, Store

    store = Store(store_root)
    plans = _plans(experiments, preset, seeds, store)
    if executor == "slurm":
        _check_slurm(profile, jobs)
    runs = _unique(cfg for p in plans for cfg in p.runs if store.state(cfg) in (State.DONE, State.UNSCORED))
    if not runs:
        raise UserError(f"no finished runs of {' '.join(experiments)} to evaluate in {store_root}")
    store.check_writable()
    _check_data(runs, data_root)
    _check_fid(runs, inception_weights)
    for cfg in runs:  # a damaged store stops here, before anything is written
        state, notes = store.run_dir(cfg).load_checkpoint("cpu")
        if state is None or state["step"] != cfg.steps:
            raise UserError(notes[0] if notes else f"{store.run_dir(cfg).checkpoint}: no final checkpoint to "
                            "evaluate (rerun the run with --force)")
    click.echo(f"evaluating {len(runs)} finished run(s)")
    _finish(_execute(runs, store, executor, profile, wait, jobs, data_root, checkpoint_every, False, True),
            experiments)


@main.command()
@click.argument("experiment")
@click.option("--preset", default=None, help="Only this preset (default: all).")
@click.option("--refresh", is_flag=True,
              help="First let Slurm's final states (cancelled, timeout, out of memory, node failure) of submitted runs "
                   "into the store; without it, status only reads.")
@STORE_OPTION
def status(experiment: str, preset: str | None, refresh: bool, store_root: Path) -> None:
    """Every stored run of EXPERIMENT: state (live, from its lock's heartbeat), step, Slurm job, error."""
    from ignbench.spec import load_spec
    from ignbench.store import Store
    from ignbench.store.status import status_rows

    store = Store(store_root)
    name = experiment if experiment in store.experiments() else load_spec(experiment).runs_of
    if refresh:
        _reconcile_slurm(store, [name])
    rows = status_rows(name, preset, store)
    if not rows:
        click.echo(f"no runs of {experiment} in {store_root}; start with `ignbench run {experiment}`")
        return
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _loadable_specs() -> list:
    """Every spec of the spec folders that loads; a broken one is a one-line warning, and the others go on."""
    from ignbench.spec import available_experiments, load_spec

    specs = []
    for name in available_experiments():
        try:
            specs.append(load_spec(name))
        except UserError as exc:
            click.echo(f"warning: {name} does not load: {exc}", err=True)
    return specs


def _report_targets(experiment: str | None, preset: str | None, store) -> list[tuple]:
    """(spec, preset) pairs to report: the named one, or every spec x preset with planned runs in the store."""
    from ignbench.spec import load_spec

    specs = [load_spec(experiment)] if experiment else _loadable_specs()
    targets = []
    for spec in specs:
        presets = [preset] if preset else spec.preset_names()
        for p in presets:
            if p not in spec.presets:
                raise UserError(f"{spec.path.name}: unknown preset {p!r} (available: {', '.join(spec.presets)})")
            if any(store.run_dir(cfg).status.exists() for cfg in spec.expand(p)):
                targets.append((spec, p))
    return targets


@main.command()
@click.argument("experiment", required=False)
@PRESET_OPTION
@SEEDS_OPTION
@click.option("--out", "out_root", type=click.Path(path_type=Path), default=Path("results/reports"),
              show_default=True, help="Report folder: <out>/<preset>/ tables and figures, <out>/index.html.")
@click.option("--unplanned", is_flag=True, help="Also list stored runs of the experiment outside the plan.")
@verdict_options
@STORE_OPTION
def report(experiment: str | None, preset: str | None, seeds: int | None, out_root: Path, unplanned: bool,
           adjust: str, until_decided: bool, max_seeds: int | None, store_root: Path) -> None:
    """Tables (Markdown to stdout; CSV, LaTeX), the claims' scorecard, figures (PNG) and index.html.

    Only the runs of the plan (spec x preset x seeds) are reported; every cell says how many finished of how many
    were planned, and how many diverged or failed. index.html gathers every experiment reported into --out whose
    runs are in the store, with all verdicts on top.
    """
    from ignbench.report import render_markdown, report_experiment
    from ignbench.store import Store

    policy = _policy(adjust, until_decided, max_seeds, seeds)
    store = Store(store_root)
    targets = _report_targets(experiment, preset, store)
    if not targets:
        hint = experiment or "table1"
        raise UserError(f"no runs of {experiment or 'any experiment'}{f' at preset {preset}' if preset else ''} in "
                        f"{store_root}; produce them with `ignbench run {hint} --preset cpu`")
    for spec, p in targets:
        section = report_experiment(spec, p, max_seeds or seeds, store, out_root, policy)
        click.echo(render_markdown(section))
        if unplanned:
            _echo_unplanned(spec, p, seeds, store)
    index = _write_index(out_root, store, targets)
    click.echo(f"wrote {index} and tables/figures under {out_root}/<preset>/")


def _write_index(out_root: Path, store, reported: list[tuple]) -> Path:
    """index.html over every fragment in out_root whose experiment x preset still has runs in the store, the specs
    just reported (named, or given by path) included."""
    from ignbench.report.html import write_index

    specs = {spec.name: spec for spec in _loadable_specs()} | {spec.name: spec for spec, _ in reported}
    entries = []
    for name, spec in specs.items():
        for p in spec.preset_names():
            if (out_root / p / f"{name}.section.html").exists() and \
                    any(store.run_dir(cfg).status.exists() for cfg in spec.expand(p)):
                entries.append((name, p))
    return write_index(out_root, entries)


def _echo_unplanned(spec, preset: str, seeds: int | None, store) -> None:
    from ignbench.store.frames import unplanned_runs

    planned = {cfg.run_id for cfg in spec.expand(preset, seeds)}
    extra = unplanned_runs(spec.runs_of, planned, store)
    click.echo(f"stored runs of {spec.runs_of} outside this plan: {len(extra)}")
    for run_id, config, state in extra:
        click.echo(f"  {run_id}  {config.get('preset')}  {config.get('method')}  {config.get('dataset')}  "
                   f"seed {config.get('seed')}  {state}")


@main.command()
@click.argument("experiment", required=False)
@PRESET_OPTION
@SEEDS_OPTION
@verdict_options
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "json", "markdown"]), default="text",
              show_default=True, help="text: counts, then one line per claim; csv, json, markdown: the scorecard.")
@STORE_OPTION
def verdict(experiment: str | None, preset: str | None, seeds: int | None, adjust: str, until_decided: bool,
            max_seeds: int | None, fmt: str, store_root: Path) -> None:
    """Every claim's verdict (reproduced / contradicted / inconclusive / insufficient) from the store: the counts per
    experiment first (after the family's adjustment, raw beside), then one line per claim and BatchNorm mode."""
    from ignbench.report.scorecard import decisions_for, scorecard
    from ignbench.report.terminal import claim_lines, counts_line, formatted
    from ignbench.store import Store
    from ignbench.store.frames import curves_frame, results_frame

    policy = _policy(adjust, until_decided, max_seeds, seeds)
    store = Store(store_root)
    targets = [(s, p) for s, p in _report_targets(experiment, preset, store) if s.claims]
    if not targets:
        raise UserError(f"no runs with claims of {experiment or 'any experiment'} in {store_root}")
    cards, lines, heads = [], [], []
    for spec, p in targets:
        runs = spec.expand(p, max_seeds or seeds)
        results, curves = results_frame(runs, store), curves_frame(runs, store)
        decisions = decisions_for(spec, results, curves, policy)
        heads.append(counts_line(spec.name, p, decisions, results))
        lines += claim_lines(spec.name, decisions)
        cards.append(scorecard(spec, p, decisions))
    if fmt != "text":
        click.echo(formatted(cards, fmt))
        return
    click.echo("\n".join(heads) + "\n")
    click.echo("\n".join(lines))
    click.echo("\n" + textwrap.fill(
        f"verdicts after {adjust} over each report's claims per BatchNorm mode (raw R/C/I/S: before); p raw/adjusted, "
        "of the claim, or of its opposite where the raw verdict is contradicted (pC); "
        "ok: healthy/finished/planned runs; needs: seeds per side for 80 % power at the paper's difference and spread "
        "(else at ours: the scorecard's 'Seeds needed' says which), at the raw level alpha / claims that survives "
        "the adjustment whatever the other claims show; [M] mode-sensitive, [H] health-sensitive",
        width=100))


@main.group()
def fld() -> None:
    """The LeNet behind FLD: train it by the shipped recipe, or print sanity values."""


@fld.command("train")
@click.option("--dataset", type=click.Choice(["mnist-5k", "mnist"]), default="mnist-5k", show_default=True)
@DATA_OPTION
@click.option("--epochs", type=int, default=15, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("lenet5.pt"), show_default=True)
def fld_train(dataset: str, data_root: Path | None, epochs: int, out: Path) -> None:
    """Train the FLD LeNet-5 by ignbench's recipe and write its weights and sha256."""
    import torch

    from ignbench.data.images import load_labelled
    from ignbench.evaluate.metrics.lenet import accuracy, sha256, train_lenet

    if epochs <= 0:
        raise UserError(f"--epochs must be positive, got {epochs}")
    train_x, train_y, test_x, test_y = load_labelled(dataset, 32, data_root)
    model = train_lenet(train_x, train_y, epochs=epochs)
    torch.save(model.state_dict(), out)
    click.echo(f"test accuracy {accuracy(model, test_x, test_y):.4f}; wrote {out} (sha256 {sha256(out)})")


@fld.command("sanity")
@click.option("--dataset", type=click.Choice(["mnist-5k", "mnist"]), default="mnist-5k", show_default=True)
@DATA_OPTION
@click.option("--weights", type=click.Path(path_type=Path, exists=True), default=None,
              help="LeNet weights (default: the shipped, sha256-pinned ones).")
def fld_sanity(dataset: str, data_root: Path | None, weights: Path | None) -> None:
    """FLD(test, test), FLD(train, test) and FLD(noise, test): the checks REPRODUCE.md quotes."""
    from ignbench.evaluate.metrics.fld import sanity_values

    for name, value, n in sanity_values(dataset, data_root, weights):
        click.echo(f"FLD({name}, test) = {value:.3f}   [{dataset}, n = {n}]")


if __name__ == "__main__":
    sys.exit(main())
