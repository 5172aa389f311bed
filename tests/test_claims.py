"""Claims as data: validated when a spec loads, decided from a plan's results under every BatchNorm mode."""

from __future__ import annotations

import pandas as pd
import pytest

from ignbench.core.errors import UserError
from ignbench.report.scorecard import decisions_for, scorecard
from ignbench.spec import load_spec, parse_spec
from ignbench.verdict.decide import decide
from ignbench.verdict.family import level_alone
from ignbench.verdict.prospects import prospect

SPEC = """
[experiment]
name = "c"
title = "c"
report = "generation"
seeds = 3

[sweep]
method = ["ign", "naign"]
imle_m_factor = [1.0, 2.0]

[config]
dataset = "mnist-5k"
batch_size = 8
steps = 2
model_width = 8
latent_dim = 16

[presets.paper]

[[claims]]
{claim}
"""
GOOD = 'id = "x"\ntext = "t"\nkind = "greater"\nmetric = "fld"\na = "naign"\nb = "ign"'


def _parse(claim: str, tmp_path):
    import tomllib

    path = tmp_path / "c.toml"
    return parse_spec(tomllib.loads(SPEC.format(claim=claim)), path)


@pytest.mark.parametrize("claim,message", [
    (GOOD.replace('"fld"', '"sharpness"'), "unknown metric 'sharpness'"),
    (GOOD.replace('a = "naign"', 'a = "gan"'), "unknown method 'gan'"),
    (GOOD + '\napplication = "f(f(f(z)))"', "unknown application 'f(f(f(z)))'"),
    (GOOD.replace('a = "naign"', 'a = {method = "naign", imle_m_factor = 3.0}'), "imle_m_factor = 3.0 is not a swept"),
    (GOOD.replace('"greater"', '"bigger"'), "kind = 'bigger' is not one of"),
    (GOOD.replace('b = "ign"', ''), "kind 'greater' needs 'b'"),
    (GOOD + '\ndataset = "grids"', "unknown dataset 'grids'"),
    (GOOD.replace('"greater"', '"trend"').replace('b = "ign"', 'sweep = "lr"'), "sweep 'lr' is not a swept field"),
    (GOOD.replace('"greater"', '"similar"') + "\nmargin = -1", "margin must be positive"),
    (GOOD.replace('"greater"', '"curve"'), "a curve claim needs curve_every > 0"),
    (GOOD + '\ncolour = "red"', "unknown key 'colour'"),
    (GOOD.replace('id = "x"', 'id = ""'), "id must be a non-empty string"),
    (GOOD.replace('text = "t"\n', ''), "text (what the paper claims"),
    (GOOD.replace('"greater"', '"all_modes"'), "kind 'all_modes' takes only side a"),
    (GOOD + '\n\n[[claims]]\n' + GOOD, "duplicate id"),
])
def test_bad_claims_are_one_line_errors_at_load(tmp_path, claim, message):
    with pytest.raises(UserError, match=None) as info:
        _parse(claim, tmp_path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_every_shipped_claim_loads():
    counts = {name: len(load_spec(name).claims) for name in ("table1", "table2", "fig2_trimodal", "fig3_modes2d",
                                                             "fig4_fld_training", "fig6_density", "fig7_projection",
                                                             "fig9_imle_m", "fig16_fk_stability", "ign_projector",
                                                             "ign_celeba", "fig5_fewshot")}
    assert counts == {"table1": 12, "table2": 8, "fig2_trimodal": 4, "fig3_modes2d": 9, "fig4_fld_training": 1,
                      "fig6_density": 3, "fig7_projection": 4, "fig9_imle_m": 1, "fig16_fk_stability": 3,
                      "ign_projector": 8, "ign_celeba": 6, "fig5_fewshot": 3}


def _frame(runs: list[dict]) -> pd.DataFrame:
    rows = []
    for i, run in enumerate(runs):
        base = {"run_id": f"r{i}", "method": run["method"], "dataset": run.get("dataset", "mnist-5k"),
                "state": run.get("state", "done"), "imle_m_factor": run.get("m", 1.0), "M": 0,
                "seed": run.get("seed", i)}
        values = run.get("values", {})
        if not values:
            rows.append({**base, "bn_mode": None, "application": None, "metric": None, "value": float("nan")})
        for (mode, app, metric), value in values.items():
            rows.append({**base, "bn_mode": mode, "application": app, "metric": metric, "value": value})
    return pd.DataFrame(rows)


NO_CURVES = pd.DataFrame(columns=["run_id", "seed", "state", "step", "bn_mode", "metric", "value"])


def _claim(tmp_path, text: str):
    return _parse(text, tmp_path).claims[0]


def _fld(method: str, eval_value: float, train_value: float, **extra) -> dict:
    return {"method": method, "values": {("eval", "f(z)", "fld"): eval_value, ("train", "f(z)", "fld"): train_value},
            **extra}


def test_greater_under_both_modes_and_an_interaction_across_modes(tmp_path):
    """Lower FLD is better: NAIGN wins in eval mode and loses in train mode, every run by about as much: the effect
    differs between modes (the interaction test, paired by run), so the claim is mode-sensitive."""
    claim = _claim(tmp_path, GOOD)
    runs = [_fld("naign", v, 500 + v) for v in (100, 105, 110, 98)]
    runs += [_fld("ign", v, v - 250) for v in (300, 310, 290, 305)]
    results = _frame(runs)
    eval_mode = decide(claim, results, NO_CURVES, "eval")
    assert eval_mode.outcome.verdict == "reproduced" and eval_mode.outcome.p == pytest.approx(1 / 70)
    train = decide(claim, results, NO_CURVES, "train")
    assert train.outcome.verdict == "contradicted" and train.outcome.mean_a == pytest.approx(603.25)
    spec = _parse(GOOD, tmp_path)
    card = scorecard(spec, "smoke", decisions_for(spec, results, NO_CURVES))
    assert list(card["Verdict"]) == ["reproduced", "contradicted"]
    assert all(flag.startswith("mode-sensitive (interaction p ") for flag in card["Flags"])
    assert card["n"].iloc[0] == "4 vs 4 of 8" and card["Health"].iloc[0] == "8/8/8"


def test_the_same_effect_in_both_modes_is_not_mode_sensitive(tmp_path):
    claim = _claim(tmp_path, GOOD)
    runs = [_fld("naign", v, v + 40 + d) for v, d in ((100, 3), (105, -2), (110, 1))]
    runs += [_fld("ign", v, v + 40 + d) for v, d in ((300, -1), (310, 2), (290, 0))]
    spec = _parse(GOOD, tmp_path)
    decisions = decisions_for(spec, _frame(runs), NO_CURVES)
    assert all(not d.mode_sensitive for d in decisions) and decisions[0].interaction_p > 0.05
    del claim


def test_methods_are_compared_unpaired_and_the_family_adjusts(tmp_path):
    """Different methods are different runs: an unpaired test, whatever their seeds. A claim that is the only one
    of its family keeps its p."""
    claim = _claim(tmp_path, GOOD)
    runs = [_fld("naign", v, v, seed=s) for s, v in enumerate((100.0, 150.0, 120.0))]
    runs += [_fld("ign", v, v, seed=s) for s, v in enumerate((400.0, 450.0, 420.0))]
    decision = decide(claim, _frame(runs), NO_CURVES, "eval")
    assert decision.outcome.test == "Hsu t + permutation" and decision.outcome.p == pytest.approx(0.05)
    spec = _parse(GOOD, tmp_path)
    card = decisions_for(spec, _frame(runs), NO_CURVES)
    assert card[0].p_adjusted == pytest.approx(card[0].outcome.p)


def test_unfinished_runs_make_a_claim_insufficient_and_diverged_ones_unhealthy(tmp_path):
    claim = _claim(tmp_path, GOOD)
    runs = [_fld("naign", v, v) for v in (100, 105)] + [{"method": "naign", "state": "running"}]
    runs += [_fld("ign", v, v) for v in (300, 310, 290)]
    decision = decide(claim, _frame(runs), NO_CURVES, "eval")
    assert decision.outcome.verdict == "insufficient" and decision.outcome.notes == ["naign: 1 running"]
    diverged = [_fld("naign", v, v) for v in (100, 105)] + [{"method": "naign", "state": "diverged"}]
    diverged += [_fld("ign", v, v) for v in (300, 310, 290)]
    decision = decide(claim, _frame(diverged), NO_CURVES, "eval")
    assert decision.outcome.tested and decision.unhealthy == {"diverged": 1}
    assert (decision.n_healthy, decision.finished, decision.planned) == (5, 6, 6)
    one_seed = decide(claim, _frame([_fld("naign", 1, 1), _fld("ign", 2, 2)]), NO_CURVES, "eval")
    assert one_seed.outcome.verdict == "insufficient" and "fewer than 2" in one_seed.outcome.notes[0]


def _distinct(run: dict, share: float) -> dict:
    """The stall classifier's measure: the share of distinct nearest training points among the samples f(z)."""
    run["values"].update({("eval", "f(z)", "distinct_nn"): share, ("train", "f(z)", "distinct_nn"): share})
    return run


def test_stalled_runs_are_shown_and_the_claim_is_decided_twice(tmp_path):
    """Two of four NAIGN runs collapsed (few distinct nearest training points among f(z)): on every finished run
    NAIGN cannot be shown to be better, on the healthy ones alone it can: health-sensitive."""
    claim = _claim(tmp_path, GOOD)
    runs = [_distinct(_fld("naign", v, v), s) for v, s in ((100, 0.9), (110, 0.8), (1500, 0.01), (1400, 0.02))]
    runs += [_distinct(_fld("ign", v, v), 0.9) for v in (300, 310, 290, 305, 295, 300)]
    decision = decide(claim, _frame(runs), NO_CURVES, "eval")
    assert decision.outcome.verdict != "reproduced" and decision.healthy.verdict == "reproduced"
    assert decision.unhealthy == {"stalled": 2} and decision.health_sensitive
    every = [_distinct(_fld("naign", v, v), 0.01) for v in (1500, 1400)] + [_distinct(_fld("ign", 300, 300), 0.9)] * 2
    stuck = decide(claim, _frame(every), NO_CURVES, "eval")
    assert stuck.outcome.verdict == "insufficient" and stuck.outcome.notes == ["all 2 finished runs of naign stalled"]


def test_same_runs_two_applications_are_paired(tmp_path):
    claim = _claim(tmp_path, 'id = "x"\ntext = "t"\nkind = "greater"\nmetric = "fld"\n'
                             'a = {method = "naign", application = "f(f(z))"}\nb = {method = "naign"}')
    runs = [{"method": "naign", "values": {("eval", "f(z)", "fld"): base, ("eval", "f(f(z))", "fld"): base - 5 - d}}
            for base, d in ((100, 0.1), (300, 0.2), (200, 0.0), (250, 0.3), (150, 0.1), (120, 0.2))]
    decision = decide(claim, _frame(runs), NO_CURVES, "eval")
    assert decision.outcome.test == "paired t + sign-flip" and decision.outcome.verdict == "reproduced"
    assert decision.outcome.p == pytest.approx(1 / 64)
    three = decide(claim, _frame(runs[:3]), NO_CURVES, "eval")
    assert three.outcome.verdict == "inconclusive" and "cannot decide" in three.outcome.notes[0]


def test_trend_over_a_swept_value(tmp_path):
    claim = _claim(tmp_path, 'id = "x"\ntext = "t"\nkind = "trend"\nmetric = "fld"\nsweep = "imle_m_factor"\n'
                             'a = "naign"')
    runs = [{"method": "naign", "m": m, "values": {("eval", "f(z)", "fld"): 300 - 40 * m + s}}
            for m in (1.0, 2.0) for s in (0, 3, 6, 9)]
    decision = decide(claim, _frame(runs), NO_CURVES, "eval")
    assert decision.outcome.verdict == "reproduced" and decision.outcome.estimate > 0  # FLD falls as M grows
    assert decision.outcome.p == pytest.approx(1 / 70)


def test_curve_rebound(tmp_path):
    text = GOOD.replace('"greater"', '"curve"')
    spec_text = SPEC.replace("latent_dim = 16", "latent_dim = 16\ncurve_every = 1")
    import tomllib

    claim = parse_spec(tomllib.loads(spec_text.format(claim=text.replace('a = "naign"\nb = "ign"',
                                                                         'a = "ign"\nb = "naign"'))),
                       tmp_path / "c.toml").claims[0]
    runs = [{"method": m, "values": {("eval", "f(z)", "fld"): 1.0}} for m in ("ign",) * 3 + ("naign",) * 3]
    results = _frame(runs)
    curve_rows = []
    for i in range(6):
        path = [500, 300, 200, 400 + 10 * i] if i < 3 else [500, 300, 200, 190 - i]
        curve_rows += [{"run_id": f"r{i}", "seed": i, "state": "done", "step": s, "bn_mode": "eval", "metric": "fld",
                        "value": v} for s, v in enumerate(path)]
    decision = decide(claim, results, pd.DataFrame(curve_rows), "eval")
    assert decision.outcome.verdict == "reproduced" and decision.outcome.mean_a == pytest.approx(210)
    assert decision.outcome.mean_b == 0


MODE_SPEC = """
[experiment]
name = "m"
title = "m"
report = "lowdim"
seeds = 3
[sweep]
method = ["ign", "naign"]
[config]
dataset = "grids"
distance = "l2"
eval_kind = "lowdim"
batch_size = 8
steps = 2
[presets.paper]
[[claims]]
id = "all"
text = "t"
kind = "all_modes"
a = "naign"
[[claims]]
id = "drop"
text = "t"
kind = "mode_dropping"
a = "naign"
"""


def _mode_spec(tmp_path):
    import tomllib

    return parse_spec(tomllib.loads(MODE_SPEC), tmp_path / "m.toml")


def _modes_frame(covered: list[int]) -> pd.DataFrame:
    return _frame([{"method": "naign", "dataset": "grids", "values": {("none", "f(z)", "modes_covered"): c,
                                                                      ("none", "f(z)", "n_modes"): 25}}
                   for c in covered])


@pytest.mark.parametrize("covered,all_modes,dropping", [
    ([25] * 5, "reproduced", "contradicted"),  # exact binomial: 5 of 5 seeds, p = 1/32
    ([25] * 3, "inconclusive", "inconclusive"),  # 3 of 3: p = 1/8, no more than 3 seeds can say
    ([3, 5, 4, 6, 2], "contradicted", "reproduced"),
    ([25, 24, 25, 25, 24], "inconclusive", "inconclusive"),
])
def test_mode_claims(tmp_path, covered, all_modes, dropping):
    spec = _mode_spec(tmp_path)
    results = _modes_frame(covered)
    verdicts = [decide(c, results, NO_CURVES, "none").outcome.verdict for c in spec.claims]
    assert verdicts == [all_modes, dropping]


def test_a_claim_the_family_keeps_inconclusive_says_how_many_seeds_it_needs(tmp_path):
    """5 of 5 seeds cover every mode: exact p 1/32 reproduces the claim on its own, and Holm over the report's two
    claims makes it 1/16, inconclusive. The scorecard and the dry run then ask for the seeds at which the claim
    survives any family of two: 1/2^6 <= 0.05 / 2."""
    spec = _mode_spec(tmp_path)
    results = _modes_frame([25] * 5)
    card = scorecard(spec, "paper", decisions_for(spec, results, NO_CURVES))
    assert list(card["Raw"]) == ["reproduced", "contradicted"]
    assert list(card["Verdict"]) == ["inconclusive", "inconclusive"]
    assert list(card["Seeds needed"]) == ["6 (ours)", "6 (ours)"]
    runs = results.drop_duplicates("run_id")
    alone, in_family = prospect(spec.claims[0], runs, None), prospect(spec.claims[0], runs, None,
                                                                      level=level_alone(0.05, 2))
    assert alone.decidable_alone and alone.seeds_needed == 5
    assert in_family.decidable and not in_family.decidable_alone and in_family.seeds_needed == 6


def _curve(run_id: str, method: str, values: list[float], steps: int = 1500) -> list[dict]:
    """A training curve of FLD in eval mode, one point every 100 steps ending at `values`' last."""
    first = steps - 100 * (len(values) - 1)
    return [{"run_id": run_id, "method": method, "dataset": "mnist-5k", "M": 1, "state": "done", "bn_mode": "eval",
             "metric": "fld", "step": first + 100 * i, "value": v} for i, v in enumerate(values)]


def test_a_curve_still_falling_is_not_converged_and_noise_is_not_movement():
    from ignbench.verdict.health import not_converged_runs

    flat = [_curve(f"ign{i}", "ign", [v + d for d in (0, 9, -8, 4)]) for i, v in enumerate((300, 250, 400))]
    falling = _curve("naign0", "naign", [900, 700, 500, 300])  # 600 down over the last 300 steps
    steady = [_curve(f"naign{i}", "naign", [v, v + 5, v - 5, v]) for i, v in ((1, 150), (2, 160))]
    curves = pd.DataFrame([p for c in [*flat, falling, *steady] for p in c])
    # spreads: IGN 76 against moves of at most 7; NAIGN's finals 300, 150, 160 (std 84) against NAIGN 0's 600
    assert not_converged_runs(curves, "fld", "eval", ["method", "dataset", "M"]) == {"naign0"}
    two_seeds = curves[curves["run_id"] != "naign2"]  # 2 seeds a cell: their std cannot judge a move
    assert not_converged_runs(two_seeds, "fld", "eval", ["method", "dataset", "M"]) == set()
    gap = curves.copy()  # a lost curve point (NaN) is skipped, not read as no movement: the fall is still seen
    gap.loc[(gap["run_id"] == "naign0") & (gap["step"] == 1300), "value"] = float("nan")
    assert not_converged_runs(gap, "fld", "eval", ["method", "dataset", "M"]) == {"naign0"}


def test_until_decided_takes_the_strongest_look_so_the_family_can_keep_it(tmp_path):
    """12 of 12 seeds cover every mode. Looks at 3, 6, 9, 12 seeds; alpha / 3 on each of the last three. At 6 seeds
    the claim is decided on its own (3 x 1/64 = 0.047), which Holm over two claims would double past alpha; the look at
    12 seeds (3 x 1/4096) survives it. The first-decision rule froze the claim at 6 seeds, inconclusive for good."""
    from ignbench.verdict.card import Policy

    spec = _mode_spec(tmp_path)
    decisions = decisions_for(spec, _modes_frame([25] * 12), NO_CURVES, Policy(max_seeds=12))
    covers = decisions[0]
    assert covers.seeds_spent == 12 and covers.outcome.p == pytest.approx(3 / 4096)
    assert covers.verdict == "reproduced" and covers.p_adjusted == pytest.approx(6 / 4096)
    at_six = decisions_for(spec, _modes_frame([25] * 6), NO_CURVES, Policy(max_seeds=12))[0]
    assert at_six.seeds_spent == 6 and at_six.outcome.verdict == "reproduced" and at_six.verdict == "inconclusive"


def test_a_claim_holds_the_next_round_open_only_if_max_seeds_can_decide_it(tmp_path):
    """5 of 5 seeds: inconclusive after Holm, needs 6: open at --max-seeds 12, futile at 5. 2 of 4 seeds cover all
    modes: the share sits at 0.5, no number of seeds decides it: futile. The opposite claim is decided: closed."""
    from ignbench.verdict.sequential import still_open

    spec = _mode_spec(tmp_path)
    covers, _ = decisions_for(spec, _modes_frame([25] * 5), NO_CURVES)
    assert covers.seeds_needed == 6 and still_open(covers, 12) and not still_open(covers, 5)
    half, _ = decisions_for(spec, _modes_frame([25, 24, 25, 24]), NO_CURVES)
    assert half.verdict == "inconclusive" and half.seeds_needed is None and not still_open(half, 50)
    _, drops = decisions_for(spec, _modes_frame([3, 5, 4, 6, 2, 3, 4]), NO_CURVES)
    assert drops.verdict == "reproduced" and not still_open(drops, 12)
