"""Fréchet distance, Coverage/Density and the FLD LeNet, against independent references and fixtures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import prdc
import pytest
import scipy.linalg
import scipy.spatial
import torch
from torch_fidelity.metric_fid import fid_statistics_to_metric

from ignbench.data.images import load_labelled
from ignbench.evaluate.metrics import lenet
from ignbench.evaluate.metrics import pairs as pairs_module
from ignbench.evaluate.metrics import prdc as prdc_module
from ignbench.evaluate.metrics import screen as screen_module
from ignbench.evaluate.metrics.fld import lenet_features
from ignbench.evaluate.metrics.frechet import frechet_distance, frechet_distance_features, statistics
from ignbench.evaluate.metrics.pairs import PairMeasure
from ignbench.evaluate.metrics.prdc import BLOCK, coverage_density, nonpositive
from ignbench.evaluate.metrics.screen import Screen, key_value, largest_magnitude, order_keys, power_of_two_scale

FIXTURES = Path(__file__).parent / "fixtures"


def sqrtm_reference(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.parametrize("n,c", [(50, 2), (100, 8), (200, 16), (400, 32), (1000, 84), (300, 64), (2000, 10)])
def test_frechet_matches_scipy_sqrtm(n, c):
    rng = np.random.default_rng(n * 1000 + c)
    a = rng.normal(size=(n, c)) @ rng.normal(size=(c, c))
    b = rng.normal(0.5, 2.0, size=(n + 17, c))
    ours = frechet_distance_features(a, b)
    ref = sqrtm_reference(a, b)
    assert ours == pytest.approx(ref, rel=1e-5, abs=1e-5)


def test_frechet_analytic_cases():
    rng = np.random.default_rng(0)
    sigma = np.cov(rng.normal(size=(500, 6)), rowvar=False)
    mu1, mu2 = np.arange(6.0), np.arange(6.0)[::-1]
    assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(((mu1 - mu2) ** 2).sum(), abs=1e-8)
    feats = rng.normal(size=(300, 12))
    assert frechet_distance_features(feats, feats) == pytest.approx(0.0, abs=1e-8)
    # two isotropic Gaussians: |Δμ|² + d (s1 - s2)² exactly
    assert frechet_distance(np.zeros(3), 4 * np.eye(3), np.ones(3), np.eye(3)) == pytest.approx(3 + 3 * 1.0)


def test_frechet_flags_large_imaginary_part():
    bad = np.array([[0.0, 1.0], [-1.0, 0.0]])  # not a covariance: eigenvalues of bad @ I are ±i
    with pytest.raises(ValueError, match="imaginary"):
        frechet_distance(np.zeros(2), bad, np.zeros(2), np.eye(2))


def test_frechet_agrees_with_torch_fidelity_statistics_to_metric():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(400, 20)), rng.normal(0.2, 1.1, size=(400, 20))
    (mu1, s1), (mu2, s2) = statistics(a), statistics(b)
    tf = fid_statistics_to_metric({"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2}, verbose=False)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(tf["frechet_inception_distance"], rel=1e-10)


@pytest.mark.parametrize("case", ["gauss", "cluster", "lenet"])
def test_coverage_density_match_prdc_fixtures(case):
    data = np.load(FIXTURES / "prdc_cases.npz")
    expected = json.loads((FIXTURES / "prdc_expected.json").read_text())[case]
    real, fake = data[f"{case}_real"], data[f"{case}_fake"]
    ours = coverage_density(real, fake, k=5, chunk=128)
    assert np.array_equal(real, data[f"{case}_real"]) and np.array_equal(fake, data[f"{case}_fake"])  # untouched
    assert ours["coverage"] == pytest.approx(expected["coverage"], abs=1e-6)
    assert ours["density"] == pytest.approx(expected["density"], abs=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_coverage_density_match_prdc_package_live(seed):
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(300 + seed * 50, 10)).astype(np.float32)
    fake = rng.normal(0.1 * seed, 1.0, size=(250, 10)).astype(np.float32)
    ref = prdc.compute_prdc(real, fake, nearest_k=5)
    ours = coverage_density(real, fake, k=5, chunk=64)
    assert ours["coverage"] == pytest.approx(ref["coverage"], abs=1e-6)
    assert ours["density"] == pytest.approx(ref["density"], abs=1e-6)


def brute_force_coverage_density(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    """Plain float64 definitions, with scipy distances: an independent reference for exactness checks."""
    real_real = scipy.spatial.distance.cdist(real, real)
    radii = np.sort(real_real, axis=1)[:, k]
    real_fake = scipy.spatial.distance.cdist(real, fake)
    return {"coverage": float((real_fake.min(axis=1) < radii).mean()),
            "density": float((real_fake < radii[:, None]).sum(axis=0).mean() / k)}


SCREENS = [torch.bfloat16, torch.float32]  # both screening precisions, whichever this CPU would pick
NEVER_DENSE, ALWAYS_DENSE = 2.0, 0.0  # values of pairs.DENSE_SHARE: no row, or every row, bounded by products
NEVER_DIFFERENCES, ALWAYS_DIFFERENCES = math.inf, 0.0  # of pairs.DIFFERENCE_GAIN: no pair, or every pair, of
# those with sampled dot products also bracketed from coordinate differences
PAIR_ROUTES = {  # (pairs.DENSE_SHARE, pairs.SAMPLED_MIN_DIM, pairs.DIFFERENCE_GAIN) that send every pair one way
    "differences": (NEVER_DENSE, math.inf, NEVER_DIFFERENCES),
    "sampled dots": (NEVER_DENSE, 0, NEVER_DIFFERENCES),
    "sampled dots and differences": (NEVER_DENSE, 0, ALWAYS_DIFFERENCES),
    "products": (ALWAYS_DENSE, 0, NEVER_DIFFERENCES),
}


def _route_pairs(route: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sends every float32 pair bound down one of the PAIR_ROUTES."""
    for name, value in zip(("DENSE_SHARE", "SAMPLED_MIN_DIM", "DIFFERENCE_GAIN"), PAIR_ROUTES[route], strict=True):
        monkeypatch.setattr(pairs_module, name, value)


@pytest.fixture(params=[True, False], ids=["bracket", "lower-only"])
def bracket(request, monkeypatch):
    """Both ways of deciding: with upper bounds (the default from screen.BRACKET_MIN_DIM features on), and with
    lower bounds only, every screened comparison measured exactly."""
    monkeypatch.setattr(screen_module, "BRACKET_MIN_DIM", 0 if request.param else 10**9)
    return request.param


@pytest.fixture(params=[True, False], ids=["by-halves", "whole"])
def halves(request, monkeypatch):
    """Both ways of computing the real-real product: by halves, each chunk taking the transposes of the earlier
    chunks' entries (the default from prdc.SYMMETRIC_MIN_DIM features on), and whole; in small chunks and
    transpose tiles that do not divide them, so that every chunk but the first takes transposes."""
    monkeypatch.setattr(prdc_module, "SYMMETRIC_MIN_DIM", 0 if request.param else 10**9)
    monkeypatch.setattr(prdc_module, "RADII_CHUNK", 64)
    monkeypatch.setattr(prdc_module, "TRANSPOSE_TILE", 24)
    return request.param


@pytest.fixture(params=[True, False], ids=["copies-merged", "copies-apart"])
def merge_copies(request, monkeypatch):
    """Both ways of treating equal rows: merged (the default: a copy takes its first row's radius and pairs), and
    measured like any other row."""
    if not request.param:
        monkeypatch.setattr(prdc_module, "first_copies", lambda x, norms: None)
    return request.param


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize(("dim", "duplicates"), [(12, 1), (3, 2)])
def test_coverage_density_exact_on_ties(dim, duplicates, screen, bracket, halves, merge_copies):
    """Integer features put thousands of distances exactly on a radius (strict < decides them); in 3-d with
    duplicated points, ties at the k-th neighbour also send rows to the radius search's retries."""
    rng = np.random.default_rng(duplicates)
    real = np.repeat(rng.integers(-3, 4, size=(400 // duplicates, dim)), duplicates, axis=0).astype(np.float32)
    fake = rng.integers(-3, 4, size=(350, dim)).astype(np.float32)
    expected = brute_force_coverage_density(real.astype(np.float64), fake.astype(np.float64), k=5)
    ours = coverage_density(real, fake, k=5, chunk=64, screen_dtype=screen)
    assert ours == pytest.approx(expected, abs=1e-12)
    ref = prdc.compute_prdc(real, fake, nearest_k=5)
    assert ours["coverage"] == pytest.approx(ref["coverage"], abs=1e-6)
    assert ours["density"] == pytest.approx(ref["density"], abs=1e-6)


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_coverage_density_exact_when_every_candidate_ties(screen, bracket, dtype, merge_copies, monkeypatch):
    """300 copies of one point and 270 of another: each copy's k-th neighbour ties with all the other copies, so
    no candidate list is ever enough and those rows end in the check of every entry their bound does not
    exclude: with copies apart, 300 or 270 of them together (with float32 pair bounds first, for float32
    features); merged, only the first of each."""
    rng = np.random.default_rng(3)
    real = np.concatenate([np.repeat(rng.normal(size=(1, 6)), 300, axis=0),
                           np.repeat(rng.normal(size=(1, 6)), 270, axis=0), rng.normal(size=(100, 6))])
    fake = np.concatenate([real[:20] + 1e-3, rng.normal(size=(200, 6))])
    real, fake = real.astype(dtype), fake.astype(dtype)
    calls = []
    checked = prdc_module._kth_within
    monkeypatch.setattr(prdc_module, "_kth_within", lambda *args: calls.append(len(args[1])) or checked(*args))
    ours = coverage_density(real, fake, k=5, chunk=64, screen_dtype=screen)
    assert ours == pytest.approx(brute_force_coverage_density(real, fake, k=5), abs=1e-12)
    assert sum(calls) == 2 if merge_copies else sum(calls) >= 570


def test_first_copies_merges_only_rows_equal_entry_by_entry():
    """Rows are merged with the first row they equal (-0.0 equals 0.0), never with one that only shares their
    norm (a permutation of it); with no repeated row there is nothing to merge."""
    a, b = [0.0, 3.0, -4.0], [1.0, 2.0, 2.0]
    rows = torch.tensor([a, b, a, [-4.0, 0.0, 3.0], b, [-0.0, 3.0, -4.0], [2.0, 1.0, 2.0]])
    norms = rows.double().norm(dim=1)
    assert prdc_module.first_copies(rows, norms).tolist() == [0, 1, 0, 3, 1, 0, 6]
    assert prdc_module.first_copies(rows[[0, 1, 3]], norms[[0, 1, 3]]) is None  # equal norms, no equal rows
    assert prdc_module.first_copies(rows[:2], norms[:2]) is None


def _hard_case(case: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    real, fake = rng.normal(size=(600, 84)), rng.normal(0.2, 1.0, size=(500, 84))
    if case == "outliers":  # a few rows far out must not send every pair down the exact path, nor mislead it
        real[:3] *= 100
        fake[:2] *= 100
    elif case == "cauchy":
        real, fake = rng.standard_cauchy(size=(600, 84)), rng.standard_cauchy(size=(500, 84))
    elif case == "duplicates":
        real = np.repeat(real[:200], 3, axis=0)
        fake[:100] = real[:100]
    elif case == "tiny rows":  # a cluster 1e-22 the size of the rest: its products underflow float32
        real[:100] *= 1e-22
        fake[:80] *= 1e-22
    elif case.startswith("scale"):
        scale = float(case.split()[1])
        real, fake = real * scale, fake * scale
    return real, fake


@pytest.mark.parametrize("case", ["outliers", "cauchy", "duplicates", "tiny rows", "scale 1e-30", "scale 1e30",
                                  "scale 1e-25", "scale 1e20"])
@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_coverage_density_exact_on_hard_inputs(case, screen, bracket, dtype, halves):
    """Identical to plain float64 definitions (1e-12) with outliers, heavy tails, duplicated rows, a cluster of
    rows whose products underflow, and at feature scales where float32 under- or overflows: no silent loss of
    precision at any finite scale. float32 features also take the float32 pair bounds, where they apply."""
    real, fake = (x.astype(dtype) for x in _hard_case(case))
    ours = coverage_density(real, fake, k=5, chunk=128, screen_dtype=screen)
    assert ours == pytest.approx(brute_force_coverage_density(real, fake, k=5), abs=1e-12)
    assert 0 < ours["coverage"] < 1 and ours["density"] > 0


@pytest.mark.parametrize("n_fake", [150, 300, 420])
@pytest.mark.parametrize("screen", SCREENS)
def test_coverage_density_exact_with_fewer_as_many_or_more_fakes_than_reals(n_fake, screen):
    """The fakes' rounding takes the memory of the reals' when they fit (fewer or as many), and a matrix of its
    own when they do not: identical to plain float64 definitions every way."""
    rng = np.random.default_rng(n_fake)
    real = rng.normal(size=(300, 40)).astype(np.float32)
    fake = rng.normal(0.1, 1.0, size=(n_fake, 40)).astype(np.float32)
    ours = coverage_density(real, fake, k=5, chunk=64, screen_dtype=screen)
    assert ours == pytest.approx(brute_force_coverage_density(real, fake, k=5), abs=1e-12)
    assert 0 < ours["coverage"] < 1 and ours["density"] > 0


@pytest.fixture
def default_float32_products():
    """Restores torch's default, IEEE float32 products, after the test."""
    yield
    torch.set_float32_matmul_precision("highest")


@pytest.mark.parametrize("allow", ["set_float32_matmul_precision", "mkldnn fp32_precision"])
def test_coverage_density_exact_when_float32_products_may_use_bfloat16(allow, default_float32_products):
    """A process that lets float32 products round their inputs to bfloat16 (as training code often does) gets the
    same values with the float32 screen, and keeps its setting."""
    if allow == "set_float32_matmul_precision":
        torch.set_float32_matmul_precision("medium")
    else:
        torch.backends.mkldnn.matmul.fp32_precision = "bf16"
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(800, 300)), rng.normal(0.05, 1.0, size=(700, 300))
    ours = coverage_density(real.astype(np.float32), fake.astype(np.float32), k=5, screen_dtype=torch.float32)
    assert torch.backends.mkldnn.matmul.fp32_precision == "bf16"
    reference = brute_force_coverage_density(real.astype(np.float32).astype(np.float64),
                                             fake.astype(np.float32).astype(np.float64), k=5)
    assert ours == pytest.approx(reference, abs=1e-12)


@pytest.mark.parametrize("case", ["outliers", "cauchy", "duplicates", "tiny rows", "scale 1e-30", "scale 1e30"])
@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("route", ["products", "sampled dots", "sampled dots and differences"])
def test_coverage_density_exact_with_every_pair_bound_taken_one_way(case, screen, route, monkeypatch):
    """float32 features whose pair bounds all come from products of whole rows (by default only rows with pairs
    to a sixteenth of the other side take them), or all from sampled dot products, alone or overlapped with
    differences (by default only from 256 features on), give the same values as the float64 reference."""
    _route_pairs(route, monkeypatch)
    real, fake = (x.astype(np.float32) for x in _hard_case(case))
    ours = coverage_density(real, fake, k=5, chunk=128, screen_dtype=screen)
    assert ours == pytest.approx(brute_force_coverage_density(real, fake, k=5), abs=1e-12)


@pytest.fixture
def flush_denormal():
    """Subnormals flushed to zero (inputs and results) for the test, as torch.set_flush_denormal(True) does."""
    if not torch.set_flush_denormal(True):
        pytest.fail("this CPU cannot flush subnormals (no SSE3)")
    yield
    torch.set_flush_denormal(False)


@pytest.mark.parametrize("case", ["tiny rows", "scale 1e-25"])
@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("route", list(PAIR_ROUTES))
def test_coverage_density_exact_when_subnormals_flush(case, screen, route, flush_denormal, monkeypatch):
    """With subnormals flushed to zero, every bound still holds: the values equal the float64 reference, with every
    float32 pair bound taken each of the ways it can be."""
    _route_pairs(route, monkeypatch)
    real, fake = (x.astype(np.float32) for x in _hard_case(case))
    ours = coverage_density(real, fake, k=5, chunk=128, screen_dtype=screen)
    assert ours == pytest.approx(brute_force_coverage_density(real, fake, k=5), abs=1e-12)


@pytest.fixture
def float64_by_default():
    """torch.set_default_dtype(torch.float64) for the test, as some scientific code sets it."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def test_coverage_density_exact_when_torch_defaults_to_float64(float64_by_default):
    """A process whose torch default dtype is float64 gets the reference values at 300 features, where the pair
    bounds take sampled dot products (their sparse pattern's values must be float32, as the features are)."""
    rng = np.random.default_rng(4)
    real, fake = rng.normal(size=(600, 300)), rng.normal(0.05, 1.0, size=(500, 300))
    real, fake = real.astype(np.float32), fake.astype(np.float32)
    assert 300 >= pairs_module.SAMPLED_MIN_DIM
    ours = coverage_density(real, fake, k=5)
    assert ours == pytest.approx(brute_force_coverage_density(real, fake, k=5), abs=1e-12)


def test_coverage_density_takes_column_major_features_as_contiguous_rows():
    """Column-major (Fortran-ordered) features become contiguous rows, which the sampled dot products read in
    place, and give the reference values."""
    real, fake = (np.asfortranarray(x.astype(np.float32)) for x in _hard_case("plain"))
    assert prdc_module.as_features(real).is_contiguous()
    ours = coverage_density(real, fake, k=5, chunk=128)
    assert ours == pytest.approx(brute_force_coverage_density(real, fake, k=5), abs=1e-12)


@pytest.mark.parametrize("size", [1e200, 1e-200])
def test_coverage_density_exact_near_float64_limits(size):
    """Features whose squared distances overflow or underflow float64 itself: the values equal a float64
    reference on the same features divided by the power of two the screen uses (exact), not the 0 that plain
    float64 distances give there."""
    real, fake = (x * size for x in _hard_case("plain"))
    scale = power_of_two_scale(largest_magnitude(torch.as_tensor(real), torch.as_tensor(fake)))
    expected = brute_force_coverage_density(real / scale, fake / scale, k=5)
    assert coverage_density(real, fake, k=5, chunk=128) == pytest.approx(expected, abs=1e-12)
    assert expected["coverage"] > 0.5


@pytest.mark.parametrize("power", [0, -110, 110])
@pytest.mark.parametrize("screen", SCREENS)
def test_rounding_and_norms_in_blocks_cover_every_row(power, screen, monkeypatch):
    """In blocks of 7 rows, which do not divide the 100 rows, the screen's rounding and both float64 norm passes
    give every row what float64 computes for it directly: scaled (2^+-110, the float64 path) and not."""
    dim = 84
    monkeypatch.setattr(screen_module, "BLOCK_ENTRIES", 7 * dim)
    monkeypatch.setattr(pairs_module, "BLOCK_ENTRIES", 7 * dim)
    a = torch.as_tensor(np.random.default_rng(5).normal(size=(100, dim)).astype(np.float32)) * 2.0**power
    scale = power_of_two_scale(largest_magnitude(a))
    assert (scale == 1.0) == (power == 0)
    rounded = Screen(screen, dim).round(a, scale)
    dirty = torch.full((130, dim + screen_module.TAIL), 7.0, dtype=screen)
    assert Screen(screen, dim).round(a, scale, reuse=dirty).matrix.data_ptr() == dirty.data_ptr()
    assert torch.equal(dirty[:100, :dim], rounded.matrix[:, :dim])  # the reused rows hold what a fresh matrix does
    scaled = a.double() / scale
    hat = rounded.matrix[:, :dim]
    assert torch.equal(hat, scaled.to(screen))
    assert torch.allclose(rounded.norm, scaled.norm(dim=1), rtol=1e-14, atol=0)
    assert torch.allclose(rounded.residual, (scaled - hat.double()).norm(dim=1), rtol=1e-14, atol=0)
    assert bool((rounded.residual > 0).all()) == (screen == torch.bfloat16)  # float32 rows round to themselves
    if power == 0:
        assert torch.allclose(pairs_module._squared_norms(a), a.double().square().sum(1), rtol=1e-14, atol=0)


@pytest.mark.parametrize("case", ["outliers", "cauchy", "duplicates", "tiny rows", "scale 1e-30", "scale 1e30"])
@pytest.mark.parametrize("screen", SCREENS)
def test_screen_brackets_every_pair(case, screen):
    """The screening product's lower and upper bounds hold the true value they bracket, pair by pair, against
    float64, with room to spare for float64's own rounding; and the bracket is a screen, not a blanket: far
    narrower than the squared norms involved."""
    real, fake = (torch.as_tensor(a) for a in _hard_case(case))
    scale = power_of_two_scale(largest_magnitude(real, fake))
    bound = Screen(screen, real.shape[1], bracket=True)
    row, col = torch.linspace(-3, 5, len(fake), dtype=torch.float64), torch.linspace(2, -1, len(real),
                                                                                    dtype=torch.float64)
    lhs, rhs = bound.lhs(bound.round(fake, scale), row), bound.rhs(bound.round(real, scale), col)
    out = lhs.matrix @ rhs.matrix[:, : len(real)]
    rows, cols = (i.reshape(-1) for i in torch.meshgrid(torch.arange(len(fake)), torch.arange(len(real)),
                                                          indexing="ij"))
    lower = bound.lower(out).reshape(-1)
    upper = bound.upper(out.reshape(-1), lhs, rhs, rows, cols)
    fake, real = fake / scale, real / scale
    fake_sq, real_sq = fake.pow(2).sum(1), real.pow(2).sum(1)
    truth = (fake_sq[:, None] + real_sq[None, :] - 2 * fake @ real.T - row[:, None] - col[None, :]).reshape(-1)
    norms = (fake_sq[:, None] + real_sq[None, :] + row.abs()[:, None] + col.abs()[None, :]).reshape(-1)
    assert (lower <= truth - 1e-12 * norms).all() and (truth + 1e-12 * norms <= upper).all()
    flushed = bound.flush_err * (bound.flush_per_norm * (fake_sq.sqrt()[:, None] + real_sq.sqrt()[None, :])
                                 + 2 * bound.flush_per_row).reshape(-1)
    assert ((upper - lower - 4 * flushed) / norms).max() <= 16 * bound.u_in + 8 * (bound.vector_err + bound.scalar_err)


def _float32_pair_cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(11)
    tiny = rng.normal(size=(300, 64))
    tiny[:100] *= 1e-22  # rows whose differences square to float32 subnormals, or flush to zero
    cases = {name: _hard_case(name) for name in ("outliers", "cauchy", "duplicates")}
    cases["tiny rows"] = (tiny, np.concatenate([tiny[50:150], rng.normal(size=(100, 64)) * 1e-22, tiny[::7]]))
    cases["wide"] = (rng.normal(size=(200, 2048)), rng.normal(size=(200, 2048)))
    plain_a, plain_b = _hard_case("plain")
    for scale in (1e-30, 1e15):  # the screen scales both; float32 squares underflow at the first
        cases[f"scale {scale:g}"] = (plain_a * scale, plain_b * scale)
    return {name: (a.astype(np.float32), b.astype(np.float32)) for name, (a, b) in cases.items()}


@pytest.mark.parametrize("case", ["outliers", "cauchy", "duplicates", "scale 1e-30", "scale 1e30"])
@pytest.mark.parametrize("screen", SCREENS)
def test_product_by_halves_brackets_every_pair(case, screen):
    """The real-real product by halves (transposed entries left of the diagonal chunk) holds every pair's squared
    distance between its lower and upper bounds, as the whole product does."""
    real = torch.as_tensor(_hard_case(case)[0])
    scale = power_of_two_scale(largest_magnitude(real))
    bound = Screen(screen, real.shape[1], bracket=True)
    rounded, no_scalar = bound.round(real, scale), torch.zeros(len(real), dtype=torch.float64)
    rhs = bound.rhs(rounded, no_scalar)
    lhs = bound.lhs(rounded, no_scalar)
    chunks = prdc_module.symmetric_products(lhs.matrix, rhs.matrix, 64)
    out = torch.cat([product[:, : len(real)].clone() for _, product in chunks])  # each chunk reuses one buffer
    rows, cols = (i.reshape(-1) for i in torch.meshgrid(torch.arange(len(real)), torch.arange(len(real)),
                                                          indexing="ij"))
    lower = bound.lower(out).reshape(-1)
    upper = bound.upper(out.reshape(-1), lhs, rhs, rows, cols)
    truth = torch.as_tensor(scipy.spatial.distance.cdist(real / scale, real / scale, "sqeuclidean")).reshape(-1)
    norms = (real / scale).square().sum(1)
    room = 1e-12 * (norms[rows] + norms[cols])
    assert (lower <= truth - room).all() and (truth + room <= upper).all()


def _all_pairs(case: str) -> tuple[PairMeasure, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A float32 PairMeasure of one of the float32 pair cases, every pair of rows, and the squares of their
    float64 distances in the screen's units (checked against scipy's)."""
    a, b = (torch.as_tensor(x) for x in _float32_pair_cases()[case])
    largest = largest_magnitude(a, b)
    measure = PairMeasure(a, b, power_of_two_scale(largest), largest)
    assert measure.float32
    rows, cols = (i.reshape(-1) for i in torch.meshgrid(torch.arange(len(a)), torch.arange(len(b)), indexing="ij"))
    exact = measure.exact(rows, cols)
    truth = scipy.spatial.distance.cdist(a.double().numpy(), b.double().numpy()).reshape(-1)
    assert np.allclose(exact.numpy(), truth, rtol=1e-14, atol=0)
    return measure, rows, cols, (exact / measure.scale).square()


def _assert_holds(bracket: pairs_module.Bracket, square: torch.Tensor) -> None:
    """The bracket holds each square with room for float64's rounding of it."""
    assert bracket.exact is None
    assert (bracket.low <= square * (1 - 1e-13)).all() and (square * (1 + 1e-13) <= bracket.high).all()


def _difference_band(measure: PairMeasure, square: torch.Tensor) -> torch.Tensor:
    """Width of the band from float32 coordinate differences around each square (with room for rounding)."""
    return 2.1 * measure.relative * square + 2.1 * measure.absolute / measure.scale**2


def _dot_band(measure: PairMeasure, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Width of the band from float32 dot products, from the rows' norms taken here (and the flushed-subnormal
    allowance written out independently of the measure's constants for it)."""
    norms = torch.cat([measure.a, measure.b]).double().norm(dim=1) / measure.scale
    norm_a, norm_b = norms[rows], norms[len(measure.a) + cols]
    dim = measure.a.shape[1]
    flushed = 2.0**-125 * (1 + 2.0**-30) * (dim**0.5 * (norm_a + norm_b) * measure.scale + 2 * dim) / measure.scale**2
    return 2.1 * (measure.dot_relative * norm_a * norm_b + flushed + measure.float64_relative * (norm_a + norm_b)**2)


@pytest.mark.parametrize("case", list(_float32_pair_cases()))
@pytest.mark.parametrize("route", ["sampled dots", "products"])
def test_dot_product_bounds_hold_the_float64_distance(case, route, monkeypatch):
    """Bounds from float32 dot products, sampled pair by pair or from products of whole rows, hold the square of
    the float64 distance from coordinate differences (scipy's, to float64 rounding) in the screen's units, pair
    by pair with room for that rounding, in a band of a few parts in ten thousand of |a| |b| (and float64
    rounding of (|a| + |b|)^2): for the rows scaled x100 among the outliers, a small fraction of the band from
    differences, which scales with |a - b|^2."""
    _route_pairs(route, monkeypatch)
    measure, rows, cols, square = _all_pairs(case)
    bracket = measure.bounds(rows, cols)
    _assert_holds(bracket, square)
    assert ((bracket.high - bracket.low) <= _dot_band(measure, rows, cols)).all()
    if case == "outliers":
        far = (rows < 3) & (cols >= 2)  # a real scaled x100 and a fake that is not
        assert ((bracket.high - bracket.low)[far] <= 0.05 * measure.relative * square[far]).all()


@pytest.mark.parametrize("case", list(_float32_pair_cases()))
@pytest.mark.parametrize("route", ["differences", "sampled dots and differences"])
def test_difference_bounds_hold_the_float64_distance(case, route, monkeypatch):
    """Bounds from float32 coordinate differences, alone or overlapped with the ones from sampled dot products,
    hold the same squares, within a few parts in ten thousand of the square itself, but for squares that
    underflow float32."""
    _route_pairs(route, monkeypatch)
    measure, rows, cols, square = _all_pairs(case)
    bracket = measure.bounds(rows, cols)
    _assert_holds(bracket, square)
    assert ((bracket.high - bracket.low) <= _difference_band(measure, square)).all()


@pytest.mark.parametrize("dim", [64, 2048])
def test_pair_bounds_by_default_suit_the_feature_size(dim, monkeypatch):
    """By default, pairs of rows that have few pairs each are bracketed from differences below SAMPLED_MIN_DIM
    features. From it on they take sampled dot products, and also the bracket from differences where that is
    DIFFERENCE_GAIN times narrower (here the near duplicates b_i = a_i (1 + 2^-10)), keeping the overlap."""
    sample_dots = pairs_module._sampled_dots
    rng = np.random.default_rng(5)
    a, b = (torch.as_tensor(rng.normal(size=(200, dim)).astype(np.float32)) for _ in range(2))
    b[::2] = a[::2] * (1 + 2.0**-10)
    rows = torch.arange(200).repeat_interleave(10)
    cols = (rows + 20 * torch.arange(10).repeat(200)) % 200  # 10 pairs a row and a column: none dense
    measure = PairMeasure(a, b, 1.0, largest_magnitude(a, b))
    square = measure.exact(rows, cols).square()
    sampled = []
    monkeypatch.setattr(pairs_module, "_sampled_dots", lambda *args: sampled.append(args) or sample_dots(*args))
    bracket = measure.bounds(rows, cols)
    assert len(sampled) == (dim >= pairs_module.SAMPLED_MIN_DIM)
    _assert_holds(bracket, square)
    width, by_differences, by_dots = bracket.high - bracket.low, _difference_band(measure, square), \
        _dot_band(measure, rows, cols)
    near = 2 * pairs_module.DIFFERENCE_GAIN * by_differences < by_dots
    assert near.sum() == 100  # the pairs (i, i) of even i
    if dim < pairs_module.SAMPLED_MIN_DIM:
        assert (width <= by_differences).all()
    else:
        assert (width[near] <= by_differences[near]).all() and (width <= by_dots).all()


def test_pair_bounds_take_products_for_rows_with_many_pairs_and_sampled_dots_for_the_rest(monkeypatch):
    """In one call: pairs of a row of either side that has pairs to a sixteenth of the other side's rows get dot
    products from products of whole rows, all the others sampled ones, each as when it is the only kind (the
    float32 rounding may differ with how the dot products are summed, the widths do not). The outliers have 84
    features, so the sampled dot products are switched on below their default SAMPLED_MIN_DIM."""
    monkeypatch.setattr(pairs_module, "SAMPLED_MIN_DIM", 0)
    measure, rows, cols, square = _all_pairs("outliers")
    n_a, n_b = len(measure.a), len(measure.b)
    keep = (rows == 0) | (cols == 5) | (torch.rand(len(rows), generator=torch.Generator().manual_seed(0)) < 0.01)
    rows, cols, square = rows[keep], cols[keep], square[keep]
    by_row, by_col = torch.bincount(rows, minlength=n_a), torch.bincount(cols, minlength=n_b)
    dense = (by_row[rows] >= n_b / 16) | (by_col[cols] >= n_a / 16)
    assert dense.sum() == n_a + n_b - 1 and len(rows) > dense.sum() + 100
    mixed = measure.bounds(rows, cols)
    _assert_holds(mixed, square)
    for share, which in ((ALWAYS_DENSE, dense), (NEVER_DENSE, ~dense)):
        monkeypatch.setattr(pairs_module, "DENSE_SHARE", share)
        alone = measure.bounds(rows, cols)
        width, alone_width = (x.high[which] - x.low[which] for x in (mixed, alone))
        assert torch.allclose(width, alone_width, rtol=1e-9, atol=0)
        assert torch.allclose(mixed.low[which], alone.low[which], rtol=1e-6, atol=0)


def test_sampled_dot_products_match_gathered_ones_in_any_pair_order():
    """The sampled dot products are the float32 dot products of the pairs' rows, in the order the pairs come,
    sorted by row or not (to float32 rounding of a sum of 64 terms)."""
    rng = np.random.default_rng(3)
    a, b = (torch.as_tensor(rng.normal(size=(50, 64)).astype(np.float32)) for _ in range(2))
    rows, cols = (torch.as_tensor(rng.integers(0, 50, 400)) for _ in range(2))
    for order in (rows.argsort(stable=True), torch.arange(400)):
        got = pairs_module._sampled_dots(a, b, rows[order], cols[order]).double()
        expected = (a.double()[rows[order]] * b.double()[cols[order]]).sum(dim=1)
        assert torch.allclose(got, expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("case", ["float64", "float64 x 1e200", "float32 x 1e20", "float32 with inf"])
def test_pair_bounds_are_the_exact_squares_where_float32_does_not_apply(case):
    """float64 features (also where the square of the largest entry overflows a Python float), float32 ones
    whose squared differences could overflow float32, and non-finite ones."""
    a = torch.randn(30, 8, dtype=torch.float64 if case.startswith("float64") else torch.float32)
    if case == "float64 x 1e200":
        a *= 1e200
    elif case == "float32 x 1e20":
        a *= 1e20
    elif case == "float32 with inf":
        a[0, 0] = float("inf")
    largest = largest_magnitude(a)
    scale = power_of_two_scale(largest)
    measure = PairMeasure(a, a, scale, largest)
    rows, cols = torch.arange(30), torch.arange(30).flip(0)
    bracket = measure.bounds(rows, cols)
    assert not measure.float32 and torch.equal(bracket.exact, measure.exact(rows, cols))
    assert torch.equal(bracket.low, (bracket.exact / scale).square()) and torch.equal(bracket.high, bracket.low)


@pytest.mark.parametrize("dtype", SCREENS)
def test_keys_up_to_is_the_largest_key_whose_lower_bound_fits(dtype):
    """Against every non-negative bfloat16 key, or float32's keys around each bound."""
    screen = Screen(dtype, 16)
    rng = np.random.default_rng(0)
    bounds = torch.as_tensor(np.concatenate([[0.0, 1e-40, 1.0, 3.0, 2.0**20], 10.0 ** rng.uniform(-30, 30, 300)]))
    got = screen.keys_up_to(bounds).long()
    if dtype == torch.bfloat16:
        keys = torch.arange(0, 0x7F80, dtype=torch.int16)
    else:
        nearest = order_keys(bounds.to(dtype)).long()
        keys = (nearest[:, None] + torch.arange(-50, 50)).reshape(-1).to(torch.int32)
    lower = screen.lower(key_value(keys, dtype))
    for bound, key in zip(bounds, got, strict=True):
        assert key == keys[lower <= bound].long().max()


@pytest.mark.parametrize("dtype", SCREENS)
def test_order_keys_sort_like_clamped_values_and_find_every_nonpositive(dtype):
    values = torch.tensor([3.5, -0.0, 0.0, -2.0, 1e-30, -1e-30, 7.0, float("inf")] * BLOCK, dtype=dtype).view(8, -1)
    keys = order_keys(values)
    clamped = values.double().clamp_min(0)
    assert torch.equal(key_value(keys, dtype), clamped)
    flat_keys, flat_clamped = keys.reshape(-1), clamped.reshape(-1)
    assert torch.equal(flat_clamped[flat_keys.clamp_min(0).argsort(stable=True)], flat_clamped.sort(stable=True).values)
    rows, cols = nonpositive(keys)
    assert torch.equal(torch.stack([rows, cols], 1), (values <= 0).nonzero())


def test_coverage_density_analytic():
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    # k = 1: each real's radius is 1 (distance to its nearest other real); strict < excludes the boundary
    out = coverage_density(real, np.array([[0.5], [10.0]]), k=1)
    assert out["coverage"] == pytest.approx(0.5)  # reals 0 and 1 have the fake 0.5 inside their ball
    assert out["density"] == pytest.approx(1.0)  # fake 0.5 lies in two balls, fake 10 in none: (2 + 0) / 2


def test_frechet_fixture_values():
    data = np.load(FIXTURES / "prdc_cases.npz")
    expected = json.loads((FIXTURES / "frechet_expected.json").read_text())
    for case, value in expected.items():
        ours = frechet_distance_features(data[f"{case}_real"], data[f"{case}_fake"])
        assert ours == pytest.approx(value, rel=1e-4, abs=1e-4), case


def test_shipped_lenet_is_pinned_and_its_recipe_reproduces_its_outcome(tmp_path):
    """The recipe's outcome, not its bits: float summation differs across CPUs (Intel, AMD), so a retrained LeNet
    must match the shipped one in accuracy and in the FLD sanity values, within tolerances, on any x86 machine."""
    from ignbench.evaluate.metrics.fld import sanity_values

    assert lenet.sha256(lenet.SHIPPED_WEIGHTS) == lenet.SHIPPED_SHA256
    train_x, train_y, test_x, test_y = load_labelled("mnist-5k", 32, None)
    retrained = lenet.train_lenet(train_x, train_y, progress=False)
    shipped = lenet.load_lenet()
    shipped_accuracy = lenet.accuracy(shipped, test_x, test_y)
    assert shipped_accuracy > 0.93
    assert abs(lenet.accuracy(retrained, test_x, test_y) - shipped_accuracy) < 0.015
    weights = tmp_path / "retrained.pt"
    torch.save(retrained.state_dict(), weights)
    ours = {name: value for name, value, _ in sanity_values("mnist-5k", None, weights)}
    pinned = {name: value for name, value, _ in sanity_values("mnist-5k", None, None)}
    assert ours["test"] == pytest.approx(0.0, abs=1e-6)
    assert ours["train"] == pytest.approx(pinned["train"], rel=0.3)
    assert ours["noise"] == pytest.approx(pinned["noise"], rel=0.2)


def test_fld_sanity_real_vs_real_small_noise_large():
    train_x, _, test_x, _ = load_labelled("mnist-5k", 32, None)
    test_f = lenet_features(test_x)
    assert test_f.shape == (1000, 84)
    assert frechet_distance_features(test_f, test_f) == pytest.approx(0.0, abs=1e-6)
    subset = train_x[torch.randperm(len(train_x), generator=torch.Generator().manual_seed(0))[:1000]]
    train_vs_test = frechet_distance_features(lenet_features(subset), test_f)
    noise = torch.randn(1000, 1, 32, 32, generator=torch.Generator().manual_seed(1)).clamp(-1, 1)
    noise_vs_test = frechet_distance_features(lenet_features(noise), test_f)
    assert 0 < train_vs_test < 0.05 * noise_vs_test


def test_lenet_extractor_is_registered_with_torch_fidelity():
    import torch_fidelity

    assert torch_fidelity.registry.FEATURE_EXTRACTORS_REGISTRY[lenet.EXTRACTOR_NAME] is lenet.LeNetExtractor


def test_custom_lenet_weights_path_and_missing_weights(tmp_path):
    from ignbench.core.errors import UserError

    weights = tmp_path / "w.pt"
    torch.save(lenet.LeNet5().state_dict(), weights)
    feats = lenet_features(torch.zeros(4, 1, 32, 32), weights)
    assert feats.shape == (4, 84)
    with pytest.raises(UserError, match="not found"):
        lenet.load_lenet(tmp_path / "missing.pt")
