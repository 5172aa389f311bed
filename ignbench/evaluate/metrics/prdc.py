"""Coverage and Density (Naeem et al., 2020), matching the `prdc` package's definitions exactly.

- real radius r_i: Euclidean distance from real i to its k-th nearest real, excluding itself;
- density  = (1/k) * mean over fakes of #{ i : d(real_i, fake) < r_i }   (strict <);
- coverage = fraction of reals i whose nearest fake lies at distance < r_i.

Fast and exact: screen, then decide. One low-precision matrix product per chunk (`screen.Screen`: bfloat16 on
CPUs with AMX or AVX512-BF16 units, float32 elsewhere) brackets every squared-distance comparison between a
rigorous lower and upper bound. The comparisons whose bracket straddles the threshold get a far narrower bracket
from float32 arithmetic (`pairs.PairMeasure`: coordinate differences or dot products), and only those still open
are decided with float64 distances from coordinate differences. Nothing depends on the screen's precision but the speed.

- Radii: the smallest lower bounds of each row name its candidates. The k-th smallest lower and upper bounds
  among them bracket the k-th smallest candidate distance; candidates wholly below the bracket need no distance,
  those wholly above it are out, and the exact distances of the rest give it by rank. It is the radius unless an
  excluded entry's bound reaches it: then the row is tried again with twice the candidates, and past
  MAX_CANDIDATES every entry that bound does not exclude is checked.
- Coverage and density: the product is augmented so that it yields, per (fake, real) pair, bounds of
  d(fake, real)^2 - r^2. Only the pairs whose lower bound is <= 0 can lie inside a ball (a few per fake); of
  those, the ones whose upper bound is < 0 lie inside, and only the rest need a distance. The fake-fake distance
  matrix that `prdc` also builds is never needed.
- Copies: a row equal to an earlier row of its side (`first_copies`) has the same distances to everything. It
  takes that row's radius, and its pairs are measured as that row's, each distinct pair once.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from ignbench.evaluate.metrics.pairs import PairMeasure
from ignbench.evaluate.metrics.screen import (
    Screen,
    Side,
    fast_screen_dtype,
    ieee_float32_products,
    key_value,
    largest_magnitude,
    order_keys,
    power_of_two_scale,
)

DEFAULT_K = 5
CANDIDATE_MARGIN = 4  # extra screened neighbours first kept when bracketing each real's k-th neighbour
RETRY_SHARE = 0.25  # share of a chunk's rows tried again above which the next chunks keep twice the candidates
# (a retried row pays for both sizes, so doubling for all pays once about a quarter of them need it)
MAX_CANDIDATES = 64  # past this, a row's radius is taken from every entry its bound does not exclude (for the
# rows that get there, pair bounds from one product per row cost less than two more rounds of lists)
FIRST_EXTRA = 2  # candidates measured beyond the fewest that bound a real's k-th neighbour distance
RADII_CHUNK = 1024
SYMMETRIC_MIN_DIM = 512  # feature sizes from which the real-real product is computed by halves (see below) ...
SYMMETRIC_MAX_BYTES = 1 << 30  # ... if the half that it keeps fits in this (32k reals in bfloat16)
TRANSPOSE_TILE = 256  # rows per tile when copying the product's transposed halves
SORT_MAX_WIDTH = 16  # rows up to this wide are sorted to pick their k-th smallest, wider ones take a top-k
GROUP = 32  # column groups for the neighbour pre-selection in `_smallest_per_row`
BLOCK = 64  # columns per block when collecting the sparse screened pairs (divides screen.PAD_TO)


def as_features(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Rows of features as a contiguous CPU tensor in float32 (if they are, or convert to it exactly) or float64:
    the sampled dot products read rows in place, and would copy a column-major array on every call."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).cpu()
    exact_in_float32 = t.dtype in (torch.float16, torch.bfloat16, torch.float32)
    return t.to(torch.float32 if exact_in_float32 else torch.float64).contiguous()


def first_copies(x: torch.Tensor, norms: torch.Tensor) -> torch.Tensor | None:
    """For each row of x, the first row equal to it entry by entry (itself if none); None if no row repeats an
    earlier one. Rows are grouped by their float64 norm (`norms`, the same for equal rows) and compared with the
    first row of their group: a row is only ever merged with a row it equals."""
    sorted_norms, order = norms.sort(stable=True)
    repeats = sorted_norms[1:] == sorted_norms[:-1]
    if not bool(repeats.any()):
        return None
    starts = torch.cat([torch.ones(1, dtype=torch.bool), ~repeats])
    first = order[torch.where(starts, torch.arange(len(x)), 0).cummax(dim=0).values]
    later = (first != order).nonzero()[:, 0]
    equal = (x[order[later]] == x[first[later]]).all(dim=1)
    copies = torch.arange(len(x))
    copies[order[later[equal]]] = first[later[equal]]
    return copies if bool(equal.any()) else None


def chunk_products(lhs: torch.Tensor, rhs: torch.Tensor, chunk: int) -> Iterator[tuple[int, torch.Tensor]]:
    """(start, lhs[start : start + chunk] @ rhs) for consecutive chunks, each written over the last in one buffer:
    a fresh 20 MB output a chunk costs its page faults (x1.4 on a loop of products at 1,000 features)."""
    buffer = torch.empty(min(chunk, len(lhs)), rhs.shape[1], dtype=lhs.dtype)
    for start in range(0, len(lhs), chunk):
        out = buffer[: min(chunk, len(lhs) - start)]
        torch.matmul(lhs[start : start + chunk], rhs, out=out)
        yield start, out


def symmetric_products(lhs: torch.Tensor, rhs: torch.Tensor, chunk: int) -> Iterator[tuple[int, torch.Tensor]]:
    """`chunk_products` of two screen sides made from the same rows with zero scalars, for half the work: each chunk
    multiplies only the columns from its own first row on, and takes the entries left of them from the earlier
    chunks' products, transposed (the bounds of a pair are the same either way round, see `screen.Screen`).
    Keeps the entries right of each chunk until the chunks below have taken them (n^2 / 2 in all); the
    transposes are copied tile by tile, x10 faster than one strided copy."""
    n = len(lhs)
    buffer = torch.empty(min(chunk, n), rhs.shape[1], dtype=lhs.dtype)
    kept: list[tuple[int, torch.Tensor]] = []  # (first row, rows' entries right of their chunk)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        out = buffer[: stop - start]
        torch.matmul(lhs[start:stop], rhs[:, start:], out=out[:, start:])
        for first, right in kept:
            offset = start - (first + len(right))
            for tile in range(0, len(right), TRANSPOSE_TILE):
                rows = slice(tile, tile + TRANSPOSE_TILE)
                out[:, first + tile : first + tile + len(right[rows])].copy_(right[rows, offset : offset + len(out)].T)
        kept.append((start, out[:, stop:].clone()))
        yield start, out


def _smallest_per_row(keys: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Columns of n entries per row that include its n smallest (as max(value, 0)), and the smallest key left out.

    Keys are compared as integers: that order ranks every key <= 0 below every positive one, as max(value, 0)
    does, and only breaks the ties among them; a key left out that is < 0 stands for 0.

    Wide rows are pre-screened: view the row as GROUP stacked blocks and take, at each offset within a block, the
    minimum over the blocks. The n smallest entries of the row lie in the columns of the n offsets with the
    smallest minima (each such entry either sits at a chosen offset, or n chosen minima are already no larger),
    so a top-k over n * GROUP gathered entries replaces a top-k over the whole row.
    """
    n_rows, width = keys.shape
    if width <= n:
        return torch.arange(width).expand(n_rows, width), torch.full((n_rows,), torch.iinfo(keys.dtype).max)
    if width < GROUP * (n + 1):
        values, order = keys.topk(n + 1, dim=1, largest=False)
        return order[:, :n], values[:, n]
    block = width // GROUP
    block_min = keys.view(n_rows, GROUP, block).amin(dim=1)
    ranked = block_min.topk(n + 1, dim=1, largest=False).indices
    cols = (ranked[:, None, :n] + block * torch.arange(GROUP)[None, :, None]).reshape(n_rows, -1)
    values, pick = keys.gather(1, cols).topk(n + 1, dim=1, largest=False)
    # Left out: the other gathered entries, and every entry at an offset whose block minimum ranks past n.
    left_out = torch.minimum(values[:, n], block_min.gather(1, ranked[:, n:])[:, 0])
    return cols.gather(1, pick[:, :n]), left_out


def real_radii(reals: PairMeasure, lhs: Side, rhs: Side, screen: Screen, k: int,
               copies: torch.Tensor | None = None) -> torch.Tensor:
    """Exact distance from each real to its k-th nearest other real (the (k+1)-th including itself), from the
    screen product of `lhs` and `rhs`, both made from the reals divided by `reals.scale` with zero scalars (so the
    product bounds d^2 / scale^2).

    How many candidates a row needs grows with how concentrated the distances are (with the dimension, for
    Gaussian features): rows whose candidates may have missed a neighbour are tried again with twice as many,
    and when more than RETRY_SHARE of a chunk's rows were, the next chunks start with twice as many too.
    """
    n_real, scale = len(reals.a), reals.scale
    n_cand = min(k + 1 + CANDIDATE_MARGIN, n_real)
    radii = torch.empty(n_real, dtype=torch.float64)
    by_halves = screen.dim >= SYMMETRIC_MIN_DIM and rhs.matrix[0].nbytes * n_real // 2 <= SYMMETRIC_MAX_BYTES
    products = symmetric_products if by_halves else chunk_products
    exhausted: list[tuple[torch.Tensor, torch.Tensor]] = []  # rows whose lists kept missing one, and their keys

    def check_every_entry() -> None:
        """The exhausted rows' radii from every entry that their bound does not exclude, all together (one pass
        of `reals.bounds`'s products over the reals for them all)."""
        rows, keys = (torch.cat(parts) for parts in zip(*exhausted, strict=True))
        reach = screen.keys_up_to((radii[rows] / scale).square())
        radii[rows] = _kth_within(reals, rows, keys, reach, screen, k)
        exhausted.clear()

    for start, product in products(lhs.matrix, rhs.matrix, RADII_CHUNK):
        rows = torch.arange(start, start + len(product))
        keys = order_keys(product)
        if copies is not None and not bool((own := copies[rows] == rows).all()):
            rows, keys = rows[own], keys[own]  # a copy of an earlier row takes its radius (below)
        size = n_cand
        doubtful = _radii_among_candidates(radii, reals, rows, keys, size, lhs, rhs, screen, k)
        if doubtful.double().mean() > RETRY_SHARE:
            n_cand = min(2 * n_cand, n_real)
        while doubtful.any():
            rows, keys, size = rows[doubtful], keys[doubtful], 2 * size  # copies: the product's buffer moves on
            if size > MAX_CANDIDATES or size >= n_real:
                exhausted.append((rows, keys[:, :n_real]))
                break
            doubtful = _radii_among_candidates(radii, reals, rows, keys, size, lhs, rhs, screen, k)
        if sum(len(rows) for rows, _ in exhausted) >= RADII_CHUNK:
            check_every_entry()
    if exhausted:
        check_every_entry()
    return radii if copies is None else radii[copies]


def _radii_among_candidates(radii: torch.Tensor, reals: PairMeasure, rows: torch.Tensor, keys: torch.Tensor,
                            n_cand: int, lhs: Side, rhs: Side, screen: Screen, k: int) -> torch.Tensor:
    """Sets radii[rows] to the k-th smallest distance among each row's n_cand candidates (its smallest screened
    keys), and returns which rows it may not be the radius of: those where an entry outside the candidates
    has a lower bound that reaches it."""
    cand, left_out = _smallest_per_row(keys, n_cand)
    screened = key_value(keys.gather(1, cand), screen.dtype)
    low = screen.lower(screened)
    high = screen.upper(screened.view(-1), lhs, rhs, rows.repeat_interleave(n_cand), cand.reshape(-1))
    radii[rows] = _kth_among(reals, rows, cand, low, high.view(len(rows), n_cand), k)
    return left_out <= screen.keys_up_to((radii[rows] / reals.scale).square())


def _kth_among(reals: PairMeasure, rows: torch.Tensor, cand: torch.Tensor, low: torch.Tensor, high: torch.Tensor,
               k: int) -> torch.Tensor:
    """Exact k-th smallest distance (0-based) from each real in `rows` to its candidates, given bounds `low` and
    `high` of their scaled squared distances, with as few exact distances as the bounds allow.

    The k-th smallest lies between the k-th smallest lower and upper bounds: candidates wholly below that bracket
    rank before it (s of them), those above it after, and it is the (k - s)-th smallest exact distance of the
    rest. Their brackets are first narrowed with `reals.bounds`, in two rounds: the first takes the k + 1 - s
    (and FIRST_EXTRA more) with the lowest lower bounds, which lowers the k-th upper bound, so that the second
    round takes fewer. Only the candidates that the narrowed brackets leave in get exact distances, unless the
    bounds were exact already. Nothing sorts whole rows: `_kth_within`'s are thousands of entries wide.
    """
    exact = torch.full(cand.shape, float("inf"), dtype=torch.float64)

    def left_in() -> tuple[torch.Tensor, torch.Tensor]:
        """Candidates whose bracket meets the k-th's, and the rank of the k-th among them."""
        floor, ceiling = _smallest(low, k), _smallest(high, k)
        below = high < floor
        return ~below & (low <= ceiling), (k - below.sum(dim=1))[:, None]

    narrowed = torch.zeros(cand.shape, dtype=torch.bool)
    for first_round in (True, False):
        unsure, rank = left_in()
        pick = unsure & ~narrowed
        if first_round:  # the lowest lower bounds (and any that tie with the last of them)
            pick &= low <= _smallest(low.masked_fill(~pick, float("inf")), rank + FIRST_EXTRA)
        at_rows, at_cols = pick.nonzero(as_tuple=True)
        bracket = reals.bounds(rows[at_rows], cand[at_rows, at_cols])
        low[at_rows, at_cols], high[at_rows, at_cols] = bracket.low, bracket.high
        if bracket.exact is not None:
            exact[at_rows, at_cols] = bracket.exact
        narrowed |= pick
    unsure, rank = left_in()
    at_rows, at_cols = (unsure & exact.isinf()).nonzero(as_tuple=True)
    exact[at_rows, at_cols] = reals.exact(rows[at_rows], cand[at_rows, at_cols])
    return _smallest(exact.masked_fill(~unsure, float("inf")), rank)[:, 0]


def _smallest(values: torch.Tensor, rank: int | torch.Tensor) -> torch.Tensor:
    """The rank-th smallest (0-based) of each row of `values`, as a column, for one rank or a column of ranks
    (clipped to the row width). Rows of up to SORT_MAX_WIDTH entries are sorted (x1.6 faster than a top-k at
    10); wider ones take a top-k (on rows thousands wide, x5 faster than kthvalue and x40 than a sort)."""
    width = values.shape[1]
    rank = (torch.full((len(values), 1), rank) if isinstance(rank, int) else rank).clamp_max(width - 1)
    if width <= SORT_MAX_WIDTH:
        return values.sort(dim=1).values.gather(1, rank)
    return values.topk(int(rank.max()) + 1, dim=1, largest=False).values.gather(1, rank)


def _kth_within(reals: PairMeasure, rows: torch.Tensor, keys: torch.Tensor, reach: torch.Tensor, screen: Screen,
                k: int) -> torch.Tensor:
    """Exact k-th smallest distance (0-based) from each real in `rows` to every real whose screened key is at
    most the row's `reach`, by `_kth_among` over all of them. Rows are padded with entries whose bounds are
    infinite: each row has more real entries than its last candidate list (> k + 1 + CANDIDATE_MARGIN), so no
    padding is among the first k + 1 + FIRST_EXTRA by lower bound that `_kth_among` narrows first, and after
    that none can meet the k-th's bracket.

    Used for rows whose candidate lists kept missing a neighbour: the k-th exact distance among the last list
    bounds the true radius from above, so only the entries whose lower bound reaches it can matter, and `reach`
    (the largest key whose lower bound is <= it) keeps exactly those.
    """
    mask = keys <= reach[:, None]
    row_idx, cols = mask.nonzero(as_tuple=True)
    counts = mask.sum(dim=1)
    position = torch.arange(len(cols)) - torch.repeat_interleave(counts.cumsum(0) - counts, counts)
    cand = torch.zeros(len(rows), int(counts.max()), dtype=torch.long)
    low = torch.full(cand.shape, float("inf"), dtype=torch.float64)
    cand[row_idx, position] = cols
    low[row_idx, position] = screen.lower(key_value(keys[row_idx, cols], screen.dtype))
    return _kth_among(reals, rows, cand, low, torch.full_like(low, float("inf")), k)


def nonpositive(keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, cols) of the keys <= 0 of a matrix whose width is a multiple of BLOCK, when they are sparse: the
    minimum of each BLOCK-wide block first, then only the blocks that hold one."""
    n_rows, width = keys.shape
    blocks = keys.view(n_rows, width // BLOCK, BLOCK)
    hit_rows, hit_blocks = (blocks.amin(dim=2) <= 0).nonzero(as_tuple=True)
    within, offset = (blocks[hit_rows, hit_blocks] <= 0).nonzero(as_tuple=True)
    return hit_rows[within], hit_blocks[within] * BLOCK + offset


def _inside(pairs: PairMeasure, rows: torch.Tensor, cols: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Whether |a[rows] - b[cols]| < radius, pair by pair: from `pairs.bounds` where they decide it, else from the
    exact distance. A float64 square is within 2^-52 of the true one, hence the factors."""
    bracket = pairs.bounds(rows, cols)
    if bracket.exact is not None:
        return bracket.exact < radius
    threshold = (radius / pairs.scale).square()
    inside = bracket.high < threshold * (1 - 2.0**-50)
    unsure = ~inside & (bracket.low <= threshold * (1 + 2.0**-50))
    inside[unsure] = pairs.exact(rows[unsure], cols[unsure]) < radius[unsure]
    return inside


@ieee_float32_products()
def coverage_density(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = DEFAULT_K,
                     chunk: int = 1024, screen_dtype: torch.dtype | None = None) -> dict[str, float]:
    """Coverage and density of `fake` against `real` (rows are feature vectors), with k nearest neighbours.

    `screen_dtype` picks the screening product's precision (default: `fast_screen_dtype()`); the values do not
    depend on it.
    """
    real, fake = as_features(real), as_features(fake)
    largest = largest_magnitude(real, fake)
    scale = power_of_two_scale(largest)
    screen = Screen(screen_dtype or fast_screen_dtype(), real.shape[1])
    rounded_real = screen.round(real, scale)
    no_scalar = torch.zeros(len(real), dtype=torch.float64)
    real_rhs = screen.rhs(rounded_real, no_scalar)
    real_copies = first_copies(real, rounded_real.norm)
    real_pairs = PairMeasure(real, real, scale, largest, (rounded_real.norm, rounded_real.norm),
                             (real_copies, real_copies))
    radii = real_radii(real_pairs, screen.lhs(rounded_real, no_scalar), real_rhs, screen, k, real_copies)
    # p_ij = d(f_i, r_j)^2 - r_j^2 (scaled): pair (i, j) is inside real j's ball iff p_ij < 0
    real_rhs = screen.with_col(real_rhs, rounded_real.norm.square(), (radii / scale).square())
    # the reals' left-hand side is no longer needed: the fakes take its memory where they fit
    rounded_fake = screen.round(fake, scale, rounded_real.matrix if len(fake) <= len(real) else None)
    fake_lhs = screen.lhs(rounded_fake, torch.zeros(len(fake), dtype=torch.float64))
    inside_parts, unsure_parts = [], []
    for start, product in chunk_products(fake_lhs.matrix, real_rhs.matrix, chunk):
        rows, cols = nonpositive(order_keys(product))
        surely_inside = screen.upper(product[rows, cols], fake_lhs, real_rhs, rows + start, cols) < 0
        pairs = torch.stack([rows + start, cols])
        inside_parts.append(pairs[:, surely_inside])
        unsure_parts.append(pairs[:, ~surely_inside])
    fake_idx, real_idx = torch.cat(unsure_parts, dim=1)
    fake_pairs = PairMeasure(fake, real, scale, largest, (rounded_fake.norm, rounded_real.norm),
                             (first_copies(fake, rounded_fake.norm), real_copies))
    decided = _inside(fake_pairs, fake_idx, real_idx, radii[real_idx])
    inside = torch.cat([*inside_parts, torch.stack([fake_idx, real_idx])[:, decided]], dim=1)
    covered = torch.zeros(len(real), dtype=torch.bool)
    covered[inside[1]] = True
    return {"coverage": float(covered.double().mean()), "density": inside.shape[1] / (k * len(fake))}
