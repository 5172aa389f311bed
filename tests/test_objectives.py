"""The gradient paths of IGN and NAIGN, checked against independent constructions."""

from __future__ import annotations

import copy

import pytest
import torch

from conftest import small_config
from ignbench.methods import objectives
from ignbench.methods.models import build_model


def _grads(model: torch.nn.Module, loss: torch.Tensor) -> list[torch.Tensor]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    return [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in model.parameters()]


def _frozen_deepcopy(model: torch.nn.Module) -> torch.nn.Module:
    twin = copy.deepcopy(model)
    for p in twin.parameters():
        p.requires_grad_(False)
    return twin


@pytest.fixture(params=["mnist-5k", "2moons"])
def setup(request):
    cfg = small_config(method="ign", dataset=request.param, distance="mse", w_tight=0.1)
    torch.manual_seed(0)
    dim = 2
    model = build_model(cfg, dim).double()
    shape = (8, 1, 32, 32) if request.param == "mnist-5k" else (8, 2)
    x, z = torch.randn(shape, dtype=torch.float64), torch.randn(shape, dtype=torch.float64)
    return cfg, model, x, z


def test_idem_gradient_flows_only_through_inner_application(setup):
    cfg, model, x, z = setup
    ours = _grads(model, objectives.ign_terms(model, x, z, cfg)["idem"])
    outer = _frozen_deepcopy(model)
    fz = model(z)
    ref = _grads(model, objectives.distance(outer(fz), fz, cfg.distance).mean())
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b)
    assert any(g.abs().sum() > 0 for g in ours)


def test_tight_gradient_flows_only_through_outer_application(setup):
    cfg, model, x, z = setup
    ours = _grads(model, objectives.ign_terms(model, x, z, cfg)["tight"])
    with torch.no_grad():
        fz = _frozen_deepcopy(model)(z)
    ref = _grads(model, -objectives.distance(model(fz), fz, cfg.distance).mean())
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b)


def test_ign_step_matches_literal_listing_transcription():
    """Source Code 1 (deepcopy + load_state_dict every step) and ours give the same loss and gradients."""
    cfg = small_config(method="ign", distance="mse", w_rec=1.0, w_idem=1.0, w_tight=0.1)
    torch.manual_seed(1)
    f = build_model(cfg, 2).double()
    f_copy = copy.deepcopy(f)
    x, z = torch.randn(8, 1, 32, 32, dtype=torch.float64), torch.randn(8, 1, 32, 32, dtype=torch.float64)
    twin = copy.deepcopy(f)
    f_copy.load_state_dict(twin.state_dict())
    fx, fz = twin(x), twin(z)
    f_z = fz.detach()
    ff_z, f_fz = twin(f_z), f_copy(fz)
    listing = ((fx - x).pow(2).mean() + (f_fz - fz).pow(2).mean() - 0.1 * (ff_z - f_z).pow(2).mean())
    ref = _grads(twin, listing)
    ours_loss = objectives.ign_loss(objectives.ign_terms(f, x, z, cfg), cfg)
    ours = _grads(f, ours_loss)
    torch.testing.assert_close(ours_loss, listing)
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b)
    for (name, a), b in zip(f.named_buffers(), twin.buffers(), strict=True):
        torch.testing.assert_close(a, b, msg=f"BatchNorm buffer {name} differs from the listing's")


def test_tight_clamp_is_tanh_of_ratio_to_reconstruction():
    cfg = small_config(method="ign", dataset="2moons", distance="l1", tight_clamp=1.5)
    torch.manual_seed(2)
    model = build_model(cfg, 2).double()
    x, z = torch.randn(8, 2, dtype=torch.float64), 5 * torch.randn(8, 2, dtype=torch.float64)
    terms = objectives.ign_terms(model, x, z, cfg)
    with torch.no_grad():
        rec = objectives.distance(model(x), x, "l1").mean()
        fz = model(z)
        raw = objectives.distance(model(fz), fz, "l1")
        scale = 1.5 * rec + objectives.TIGHT_CLAMP_EPS
        expected = -(torch.tanh(raw / scale) * scale).mean()
    torch.testing.assert_close(terms["tight"].detach(), expected)
    assert terms["tight"].abs() <= 1.5 * rec + 1e-6


def _chunks_of(pool: torch.Tensor):
    """A sample_z that hands out `pool` in order, chunk by chunk."""
    cursor = iter(range(0, len(pool), 16))
    return lambda n: pool[next(cursor):][:n]


def test_imle_selects_true_nearest_neighbour_under_the_loss_distance():
    for kind in ("l1", "l2", "mse"):
        torch.manual_seed(3)
        model = torch.nn.Linear(5, 5).double()
        x = torch.randn(7, 5, dtype=torch.float64)
        pool = torch.randn(50, 5, dtype=torch.float64)
        z_star = objectives.imle_nearest(model, x, _chunks_of(pool), 50, 16, kind)
        with torch.no_grad():
            fz = model(pool)
            d = torch.stack([objectives.distance(xi.expand_as(fz), fz, kind) for xi in x])
        torch.testing.assert_close(z_star, pool[d.argmin(dim=1)])


def test_imle_search_leaves_batchnorm_running_stats_untouched():
    cfg = small_config()
    model = build_model(cfg, 2)
    before = {k: v.clone() for k, v in model.named_buffers()}
    objectives.imle_nearest(model, torch.randn(4, 1, 32, 32), lambda n: torch.randn(n, 1, 32, 32), 32, 16, "l1")
    for k, v in model.named_buffers():
        torch.testing.assert_close(v, before[k])


def test_naign_minus_has_no_idem_term_and_naign_idem_is_the_modified_one():
    cfg = small_config(dataset="2moons")
    torch.manual_seed(4)
    model = build_model(cfg, 2).double()
    x, z = torch.randn(8, 2, dtype=torch.float64), torch.randn(8, 2, dtype=torch.float64)
    z_star = torch.randn(8, 2, dtype=torch.float64)
    minus = objectives.naign_terms(model, x, x, z_star, z, cfg, with_idem=False)
    assert set(minus) == {"rec", "imle"}
    full = objectives.naign_terms(model, x, x, z_star, z, cfg, with_idem=True)
    outer = _frozen_deepcopy(model)
    fz = model(z)
    fq = model(fz.detach())
    ref_idem = 0.5 * (objectives.distance(fz, outer(fz), "l2").mean() + objectives.distance(fq, outer(fq), "l2").mean())
    torch.testing.assert_close(full["idem"], ref_idem)
    g_full = _grads(model, full["idem"])
    g_ref = _grads(model, ref_idem)
    for a, b in zip(g_full, g_ref, strict=True):
        torch.testing.assert_close(a, b)
    g_minus = _grads(model, objectives.naign_loss(minus, cfg, warm=False))
    again = objectives.naign_terms(model, x, x, z_star, z, cfg, with_idem=False)
    g_rec_imle = _grads(model, again["rec"] + again["imle"])
    for a, b in zip(g_minus, g_rec_imle, strict=True):
        torch.testing.assert_close(a, b)


def test_warmup_uses_reconstruction_only():
    cfg = small_config(dataset="2moons")
    terms = {"rec": torch.tensor(1.0), "imle": torch.tensor(2.0), "idem": torch.tensor(3.0)}
    assert float(objectives.naign_loss(terms, cfg, warm=True)) == 1.0
    assert float(objectives.naign_loss(terms, cfg, warm=False)) == 6.0


def test_distances_per_sample():
    a, b = torch.zeros(2, 3), torch.tensor([[3.0, 4.0, 0.0], [1.0, 1.0, 1.0]])
    torch.testing.assert_close(objectives.distance(a, b, "l2"), torch.tensor([5.0, 3**0.5]))
    torch.testing.assert_close(objectives.distance(a, b, "l1"), torch.tensor([7 / 3, 1.0]))
    torch.testing.assert_close(objectives.distance(a, b, "mse"), torch.tensor([25 / 3, 1.0]))


def test_ign_recipes_resolve_through_a_spec(tmp_path):
    """`recipe = "listing"` / `"appendix"` in [per_method.ign] selects IGN's two published recipes (a switch for
    the readings in REPRODUCE.md); fields set beside it override the recipe."""
    import tomllib

    from ignbench.spec import parse_spec

    text = """
[experiment]
name = "r"
title = "r"
report = "generation"
[sweep]
method = ["ign"]
[config]
dataset = "mnist-5k"
batch_size = 8
steps = 2
[per_method.ign]
recipe = "{recipe}"
w_tight = 0.05
[presets.paper]
"""
    listing = parse_spec(tomllib.loads(text.format(recipe="listing")), tmp_path / "r.toml").expand("paper")[0]
    assert (listing.distance, listing.w_rec, listing.w_idem, listing.tight_clamp) == ("mse", 1.0, 1.0, 0.0)
    appendix = parse_spec(tomllib.loads(text.format(recipe="appendix")), tmp_path / "r.toml").expand("paper")[0]
    assert (appendix.distance, appendix.w_rec, appendix.w_idem, appendix.tight_clamp) == ("l1", 20.0, 20.0, 1.5)
    assert (appendix.optimizer, appendix.betas) == ("adam", [0.5, 0.999])
    assert listing.w_tight == appendix.w_tight == 0.05
