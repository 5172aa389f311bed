"""Claims as data: validated when a spec loads, decided from a plan's results under every BatchNorm mode."""

from __future__ import annotations

import pandas as pd
import pytest

from ignbench.claims import decide
from ignbench.errors import UserError
from ignbench.report.scorecard import decisions_for, scorecard
from ignbench.spec import load_spec, parse_spec

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
    (GOOD.replace('"greater"', '"bigger"'), "kind must be one of"),
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


NO_CURVES = pd.DataFrame(columns=["run_id", "step", "bn_mode", "metric", "value"])


def _claim(tmp_path, text: str):
    return _parse(text, tmp_path).claims[0]


def _fld(method: str, eval_value: float, train_value: float, **extra) -> dict:
    return {"method": method, "values": {("eval", "f(z)", "fld"): eval_value, ("train", "f(z)", "fld"): train_value},
            **extra}


def test_greater_under_both_modes_and_a_mode_sensitive_claim(tmp_path):
    claim = _claim(tmp_path, GOOD)
    runs = [_fld("naign", v, 500 + v) for v in (100, 105, 110)] + [_fld("ign", v, v - 250) for v in (300, 310, 290)]
    results = _frame(runs)
    assert decide(claim, results, NO_CURVES, "eval").test.verdict == "reproduced"  # FLD lower is better
    train = decide(claim, results, NO_CURVES, "train")
    assert train.test.verdict == "contradicted" and train.mean_a == pytest.approx(605)
    spec = _parse(GOOD, tmp_path)
    card = scorecard(spec, "smoke", decisions_for(spec, results, NO_CURVES))
    assert list(card["Verdict"]) == ["reproduced", "contradicted"] and set(card["Mode-sensitive"]) == {"yes"}
    assert card["n"].iloc[0] == "3 vs 3 of 6"


def test_methods_are_paired_by_seed_when_their_seeds_match(tmp_path):
    """Runs of one seed share their initial weights: a slow seed is slow for every method. Pairing by seed removes
    that block effect (the unpaired Welch verdict stays in the notes)."""
    claim = _claim(tmp_path, GOOD)
    seeds = [(0, 100.0), (1, 150.0), (2, 900.0)]  # seed 2 trains badly for both methods
    runs = [_fld("naign", v, v, seed=s) for s, v in seeds]
    runs += [_fld("ign", v + gap, v + gap, seed=s) for (s, v), gap in zip(seeds, (30, 35, 25), strict=True)]
    decision = decide(claim, _frame(runs), NO_CURVES, "eval")
    assert decision.test.test == "paired t by seed" and decision.test.verdict == "reproduced"
    assert len(decision.test.notes) == 1 and decision.test.notes[0].startswith("unpaired Welch: p ")
    assert decision.test.notes[0].endswith("inconclusive")
    unmatched = [_fld("naign", v, v, seed=s) for s, v in seeds] + [_fld("ign", v + 30, v + 30, seed=s + 3)
                                                                    for s, v in seeds]
    assert decide(claim, _frame(unmatched), NO_CURVES, "eval").test.test == "Welch t"


def test_unfinished_or_diverged_runs_make_a_claim_insufficient(tmp_path):
    claim = _claim(tmp_path, GOOD)
    runs = [_fld("naign", v, v) for v in (100, 105)] + [{"method": "naign", "state": "diverged"}]
    runs += [_fld("ign", v, v) for v in (300, 310, 290)]
    decision = decide(claim, _frame(runs), NO_CURVES, "eval")
    assert decision.test.verdict == "insufficient" and decision.notes == ["naign: 1 diverged"]
    one_seed = decide(claim, _frame([_fld("naign", 1, 1), _fld("ign", 2, 2)]), NO_CURVES, "eval")
    assert one_seed.test.verdict == "insufficient" and "fewer than 2" in one_seed.notes[0]


def test_same_runs_two_applications_are_paired(tmp_path):
    claim = _claim(tmp_path, 'id = "x"\ntext = "t"\nkind = "greater"\nmetric = "fld"\n'
                             'a = {method = "naign", application = "f(f(z))"}\nb = {method = "naign"}')
    runs = [{"method": "naign", "values": {("eval", "f(z)", "fld"): base, ("eval", "f(f(z))", "fld"): base - 5 - d}}
            for base, d in ((100, 0.1), (300, 0.2), (200, 0.0))]  # seeds differ wildly, the second pass always helps
    decision = decide(claim, _frame(runs), NO_CURVES, "eval")
    assert decision.test.test == "paired t" and decision.test.verdict == "reproduced"


def test_trend_over_a_swept_value(tmp_path):
    claim = _claim(tmp_path, 'id = "x"\ntext = "t"\nkind = "trend"\nmetric = "fld"\nsweep = "imle_m_factor"\n'
                             'a = "naign"')
    runs = [{"method": "naign", "m": m, "values": {("eval", "f(z)", "fld"): 300 - 40 * m + s}}
            for m in (1.0, 2.0) for s in (0, 3, 6, 9)]  # 2 points x 3 seeds could not reach p < 0.05 (1/20)
    decision = decide(claim, _frame(runs), NO_CURVES, "eval")
    assert decision.test.verdict == "reproduced" and decision.test.estimate > 0  # FLD falls as M grows
    assert decision.test.p == pytest.approx(1 / 70)


def test_curve_rebound(tmp_path):
    text = GOOD.replace('"greater"', '"curve"').replace('b = "naign"', 'b = "naign"')
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
        curve_rows += [{"run_id": f"r{i}", "step": s, "bn_mode": "eval", "metric": "fld", "value": v}
                       for s, v in enumerate(path)]
    decision = decide(claim, results, pd.DataFrame(curve_rows), "eval")
    assert decision.test.verdict == "reproduced" and decision.mean_a == pytest.approx(210) and decision.mean_b == 0


@pytest.mark.parametrize("covered,all_modes,dropping", [
    ([25, 25, 25], "reproduced", "contradicted"),
    ([3, 5, 4], "contradicted", "reproduced"),
    ([25, 24, 25], "inconclusive", "inconclusive"),
])
def test_mode_claims(tmp_path, covered, all_modes, dropping):
    import tomllib

    lowdim = """
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
    spec = parse_spec(tomllib.loads(lowdim), tmp_path / "m.toml")
    runs = [{"method": "naign", "dataset": "grids", "values": {("none", "f(z)", "modes_covered"): c,
                                                               ("none", "f(z)", "n_modes"): 25}} for c in covered]
    results = _frame(runs)
    verdicts = [decide(c, results, NO_CURVES, "none").test.verdict for c in spec.claims]
    assert verdicts == [all_modes, dropping]
