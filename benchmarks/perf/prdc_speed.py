"""Coverage/Density: ignbench's exact chunked version against the `prdc` package, n x n features, k = 5.

For each feature size (84: LeNet, 1000, 2048: InceptionV3) and case (Gaussian, 3 rows scaled x100 by default;
Cauchy and duplicated rows on request), interleaved
best-of-N timings of:
- ignbench's `coverage_density`;
- what prdc does for these two metrics: its real-real k-NN radii and its real-fake distance matrix
  (`compute_nearest_neighbour_distances`, `compute_pairwise_distance`), then its two formulas;
- with --full, `prdc.compute_prdc` in full (all four metrics; it also builds the fake-fake matrix that precision
  needs).
Prints the speed-ups, and the largest difference in value (it must be 0 up to prdc's float32 rounding).

How busy the machine was: a probe takes its turn with the contenders and times one product of a 1,024-row chunk
at 2,048 features in the screen's dtype (`fast_screen_dtype`: bfloat16 where the CPU has AMX or AVX512-BF16,
float32 elsewhere) and in float32 (prdc's distances). Its fastest, median and slowest times are printed with each
case. On a shared host the two do not slow alike: in one Xeon VM's slow phases the bfloat16 (AMX) product ran
x2-6 slower and the float32 one x1.2-2, so a case measured while the probe's bfloat16 median was far from its calm
21-25 ms understates ignbench. The first line printed names the CPU and the screen's dtype.

Each contender runs in a process of its own, as a user runs it, and the processes take turns call by call, so a
slow phase of a shared machine hits them alike. In one process, torch's and scikit-learn's two OpenMP runtimes
get in each other's way: one's spinning idle threads slowed the other x5 right after a call, and making every
thread wait passively instead (OMP_WAIT_POLICY=PASSIVE) slowed ignbench's many short parallel passes x1.6.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import statistics
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

import numpy as np

K = 5


def ignbench_coverage_density(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    from ignbench.evaluate.metrics.prdc import coverage_density  # imported here: the prdc workers never load torch

    return coverage_density(real, fake, k=K)


def prdc_coverage_density(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """prdc's own computation of coverage and density, without its precision and recall."""
    from prdc.prdc import compute_nearest_neighbour_distances, compute_pairwise_distance

    radii = compute_nearest_neighbour_distances(real, K)
    real_fake = compute_pairwise_distance(real, fake)
    density = (1.0 / K) * (real_fake < np.expand_dims(radii, axis=1)).sum(axis=0).mean()
    coverage = (real_fake.min(axis=1) < radii).mean()
    return {"coverage": float(coverage), "density": float(density)}


def prdc_all_four(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    import prdc

    out = prdc.compute_prdc(real, fake, nearest_k=K)
    return {"coverage": float(out["coverage"]), "density": float(out["density"])}


CONTENDERS: dict[str, Callable[[np.ndarray, np.ndarray], dict[str, float]]] = {
    "ignbench": ignbench_coverage_density,
    "prdc's coverage+density": prdc_coverage_density,
    "prdc.compute_prdc": prdc_all_four,
}


CASES = {
    "gaussian": "N(0, 1) reals, N(0.05, 1) fakes",
    "outliers": "the same, with 3 reals scaled x100",
    "cauchy": "standard Cauchy reals and fakes (heavy tails)",
    "duplicates": "the Gaussian reals with every row three times (n / 3 distinct), and a tenth of the fakes copies"
                  " of reals",
}


def features(n: int, dim: int, case: str) -> tuple[np.ndarray, np.ndarray]:
    """float32 real and fake features of one of the CASES."""
    rng = np.random.default_rng(0)
    if case == "cauchy":
        return (rng.standard_cauchy(size=(n, dim)).astype(np.float32),
                rng.standard_cauchy(size=(n, dim)).astype(np.float32))
    real = rng.normal(size=(n, dim)).astype(np.float32)
    fake = rng.normal(0.05, 1.0, size=(n, dim)).astype(np.float32)
    if case == "outliers":
        real[:3] *= 100
    elif case == "duplicates":
        real = np.repeat(real[: -(-n // 3)], 3, axis=0)[:n]
        fake[: n // 10] = real[: n // 10]
    return real, fake


def worker(name: str, n: int, dim: int, case: str, conn: Connection) -> None:
    """Builds the features, makes one warm-up call, then times one call per request until told to stop."""
    real, fake = features(n, dim, case)
    contender = CONTENDERS[name]
    contender(real, fake)
    conn.send("ready")
    while conn.recv():
        start = time.perf_counter()
        values = contender(real, fake)
        conn.send((time.perf_counter() - start, values))


PROBE = "machine probe"
PROBE_SHAPE = (1024, 2048 + 8, 10048)  # a chunk of ignbench's screen product at 2,048 features


def probe_worker(conn: Connection) -> None:
    """Times, per request, one product of PROBE_SHAPE in the screen's dtype and one in float32 (seconds of each)."""
    import torch

    from ignbench.evaluate.metrics.screen import fast_screen_dtype

    rows, inner, cols = PROBE_SHAPE
    generator = torch.Generator().manual_seed(0)
    lhs, rhs = torch.randn(rows, inner, generator=generator), torch.randn(inner, cols, generator=generator)
    operands = {dtype: (lhs.to(dtype), rhs.to(dtype), torch.empty(rows, cols, dtype=dtype))
                for dtype in dict.fromkeys([fast_screen_dtype(), torch.float32])}

    def timed() -> dict[str, float]:
        seconds = {}
        for dtype, (a, b, out) in operands.items():
            start = time.perf_counter()
            torch.matmul(a, b, out=out)
            seconds[str(dtype).removeprefix("torch.")] = time.perf_counter() - start
        return seconds

    timed()
    conn.send("ready")
    while conn.recv():
        seconds = timed()
        conn.send((next(iter(seconds.values())), seconds))


def measure(n: int, dim: int, case: str, names: list[str], repeat: int) -> dict[str, list[tuple[float, dict]]]:
    """Each contender's (seconds, values) and the probe's (screen dtype's seconds, each dtype's) over `repeat` rounds
    in which they take turns."""
    context = mp.get_context("spawn")
    workers = []
    for name in [*names, PROBE]:  # one at a time, so that no warm-up overlaps another's
        here, there = context.Pipe()
        args = (there,) if name == PROBE else (name, n, dim, case, there)
        process = context.Process(target=probe_worker if name == PROBE else worker, args=args)
        process.start()
        assert here.recv() == "ready"
        workers.append((name, process, here))
    rounds: dict[str, list[tuple[float, dict]]] = {name: [] for name, _, _ in workers}
    for _ in range(repeat):
        for name, _, conn in workers:
            conn.send(True)
            rounds[name].append(conn.recv())
    for _, process, conn in workers:
        conn.send(False)
        process.join()
    return rounds


def probe_summary(rounds: list[tuple[float, dict]]) -> str:
    """The probe's fastest, median and slowest product in each dtype, in ms (one product is a moment of a round:
    a calm fastest can hide a slow phase that the median shows)."""
    spans = []
    for dtype in rounds[0][1]:
        times = [seconds[dtype] * 1e3 for _, seconds in rounds]
        spans.append(f"{dtype} {min(times):.0f}/{statistics.median(times):.0f}/{max(times):.0f} ms")
    return "probe (fastest/median/slowest) " + ", ".join(spans)


def machine() -> str:
    """The CPU's model name and the screen's dtype on it; without bfloat16 matrix units, what that rules out."""
    import platform

    import torch

    from ignbench.evaluate.metrics.screen import fast_screen_dtype

    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), model)
    dtype = fast_screen_dtype()
    expect = ("" if dtype == torch.bfloat16 else
              "\n  no bfloat16 matrix units here: from 1,000 features on, the float32 screen products alone"
              " hold ignbench under x10 (REPRODUCE.md, 'On CPUs without bfloat16 matrix hardware')")
    return (f"CPU: {model}, {torch.get_num_threads()} threads, torch {torch.__version__} "
            f"({torch.backends.cpu.get_cpu_capability()}); screen dtype: {dtype}{expect}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--dims", type=int, nargs="+", default=[84, 1000, 2048])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=["gaussian", "outliers"],
                        help="; ".join(f"{name}: {text}" for name, text in CASES.items()))
    parser.add_argument("--repeat", type=int, default=5,
                        help="rounds; the best of them counts (a shared machine can run x2 slower for minutes)")
    parser.add_argument("--full", action="store_true", help="also time prdc.compute_prdc (all four metrics)")
    args = parser.parse_args()
    names = list(CONTENDERS)[: 3 if args.full else 2]
    print(machine(), flush=True)
    for dim in args.dims:
        for case in args.cases:
            rounds = measure(args.n, dim, case, names, args.repeat)
            best = {name: min(rounds[name], key=lambda timed: timed[0]) for name in names}
            ours_time, ours = best["ignbench"]
            parts = [f"ignbench {ours_time:6.2f} s"]
            for name in names[1:]:
                seconds, values = best[name]
                diff = max(abs(ours[m] - values[m]) for m in ("coverage", "density"))
                parts.append(f"{name} {seconds:6.2f} s, x{seconds / ours_time:5.1f} (max |difference| {diff:.1e})")
            print(f"{args.n} x {args.n} x {dim:<4} {case:<9}: " + "; ".join(parts)
                  + f"; coverage {ours['coverage']:.4f}, density {ours['density']:.4f}; "
                  + probe_summary(rounds[PROBE]), flush=True)


if __name__ == "__main__":
    main()
