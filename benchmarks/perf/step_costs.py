"""Cost of one training step, measured in the same run against its reference.

- IGN: ignbench's step (functional frozen copy, matrix-product dense layers) against a literal transcription of
  IGN Source Code 1 (deepcopy + load_state_dict every step) on the paper's plain layers; both float32 steps'
  gradients against the listing's in float64 (`common.gradient_error`).
- NAIGN: the share of a step spent in the IMLE nearest-neighbour search at M = 10 x batch, averaged over steps
  (replay probability 0.5 as in the paper) and for a step that searches.
- NAIGN vs M: step time for several M (the cost axis of NAIGN Fig. 9).
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
from common import best_of, exact_listing_grads, gradient_error, ign_grads, ign_listing_grads, paper_layers

from ignbench.core.config import RunConfig
from ignbench.data import load_data
from ignbench.methods import objectives
from ignbench.train.trainer import Trainer


def config(dataset: str, method: str, batch: int, width: int, **extra) -> RunConfig:
    """width: the DCGAN's base width for images, the MLP's hidden units for toy data."""
    lowdim = dataset not in ("mnist", "mnist-5k")
    fields = {"distance": "l2" if lowdim else "l1", "eval_kind": "lowdim" if lowdim else "generation",
              ("hidden" if lowdim else "model_width"): width, **extra}
    return RunConfig(experiment="perf", preset="perf", method=method, dataset=dataset, seed=0, steps=1,
                     batch_size=batch, **fields)


def trainer_for(cfg: RunConfig) -> Trainer:
    return Trainer([cfg], [load_data(cfg)], torch.device("cpu"), stacked=False)  # the plain model, unbatched


def ign_vs_listing(dataset: str, batch: int, width: int) -> None:
    cfg = config(dataset, "ign", batch, width, w_idem=1.0, w_tight=0.1, distance="mse")
    trainer = trainer_for(cfg)
    f, member = trainer.model, trainer.members[0]
    x = member.sampler.next(member.g)
    z = member.sample_z(len(x))
    listing_step, ours_step = ign_listing_grads(paper_layers(f), x, z), ign_grads(f, cfg, x, z)
    exact = exact_listing_grads(f, x, z)
    errors = gradient_error(listing_step(), exact), gradient_error(ours_step(), exact)
    t_listing, t_ours = best_of(listing_step, ours_step, repeat=7)
    print(f"IGN step [{dataset}, batch {batch}]: listing {t_listing * 1e3:.1f} ms, ignbench {t_ours * 1e3:.1f} ms, "
          f"speed-up x{t_listing / t_ours:.2f}; gradient error against the float64 listing: listing "
          f"{errors[0]:.1e}, ignbench {errors[1]:.1e}")


def naign_vs_naive(dataset: str, batch: int, width: int) -> None:
    """ignbench's NAIGN step (no-grad chunked search, f(z*) recomputed with grad, functional frozen copy)
    against a naive one (f over all M candidates with the graph kept, min over cdist, deepcopy for f_copy)."""
    cfg = config(dataset, "naign", batch, width, replay_prob=0.0)
    trainer = trainer_for(cfg)
    f, opt, member = trainer.model, trainer.opt, trainer.members[0]
    f_copy = copy.deepcopy(f)
    x = member.sampler.next(member.g)
    m = cfg.resolved_imle_m

    def naive_step() -> None:
        f_copy.load_state_dict(f.state_dict())
        z_m, z = member.sample_z(m), member.sample_z(len(x))
        rec = objectives.distance(f(x), x, cfg.distance).mean()
        imle = objectives.pairwise_distance(x, f(z_m), cfg.distance).min(dim=1).values.mean()
        fz = f(z)
        fq = f(fz.detach())
        idem = 0.5 * (objectives.distance(fz, f_copy(fz), cfg.distance).mean()
                      + objectives.distance(fq, f_copy(fq), cfg.distance).mean())
        opt.zero_grad()
        (rec + imle + idem).backward()
        opt.step()

    t_naive, t_ours = best_of(naive_step, trainer.step, repeat=3)
    print(f"NAIGN step [{dataset}, batch {batch}, M {m}, no replay]: naive {1 / t_naive:.2f} steps/s, "
          f"ignbench {1 / t_ours:.2f} steps/s, speed-up x{t_naive / t_ours:.2f}")


def naign_search_share(dataset: str, batch: int, width: int, steps: int) -> None:
    """Share of NAIGN training time spent in the IMLE nearest-neighbour search (replay p = 0.5, as the paper)."""
    cfg = config(dataset, "naign", batch, width)
    trainer = trainer_for(cfg)
    calls: list[float] = []
    original = objectives.imle_nearest

    def timed(*args, **kwargs):
        start = time.perf_counter()
        out = original(*args, **kwargs)
        calls.append(time.perf_counter() - start)
        return out

    objectives.imle_nearest = timed
    try:
        trainer.step()
        calls.clear()
        searching, plain = [], []
        for _ in range(steps):
            n_before, start = len(calls), time.perf_counter()
            trainer.step()
            (searching if len(calls) > n_before else plain).append(time.perf_counter() - start)
    finally:
        objectives.imle_nearest = original
    total = sum(searching) + sum(plain)
    print(f"NAIGN step [{dataset}, batch {batch}, M {cfg.resolved_imle_m}]: {total / steps * 1e3:.0f} ms/step; "
          f"NN search = {sum(calls) / total:.0%} of training time over {steps} steps "
          f"({len(searching)} searched, {len(plain)} replayed); "
          f"{sum(calls) / max(sum(searching), 1e-9):.0%} of a step that searches")


def naign_vs_m(dataset: str, batch: int, width: int, ms: list[int]) -> None:
    base = None
    for m in ms:
        cfg = config(dataset, "naign", batch, width, imle_m=m, replay_prob=0.0)
        trainer = trainer_for(cfg)
        (seconds,) = best_of(trainer.step, repeat=5)
        base = base or seconds
        print(f"NAIGN step [{dataset}, batch {batch}] M = {m:>5}: {seconds * 1e3:7.1f} ms  (x{seconds / base:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--part", choices=["all", "ign", "naign", "search", "m"], default="all")
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.part in ("all", "ign"):
        ign_vs_listing("mnist-5k", 256, 64)
        ign_vs_listing("2moons", 512, 512)
    if args.part in ("all", "naign"):
        naign_vs_naive("mnist-5k", 256, 64)
        naign_vs_naive("2moons", 512, 512)
    if args.part in ("all", "search"):
        naign_search_share("mnist-5k", 256, 64, args.steps)
        naign_search_share("2moons", 512, 512, args.steps)
    if args.part in ("all", "m"):
        naign_vs_m("mnist-5k", 256, 64, [128, 256, 512, 1024, 2056])
        naign_vs_m("2moons", 512, 512, [128, 512, 2048, 5120])


if __name__ == "__main__":
    main()
