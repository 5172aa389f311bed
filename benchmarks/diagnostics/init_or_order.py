"""Is a slow seed slow because of its initial weights or because of its data order?

Trains one run of a spec's preset for a few hundred steps with the initial weights of one seed and everything
else (batches, latents, IMLE draws) of another, and prints the mean reconstruction loss of each 100 steps. With
equal seeds it reproduces the stored run's training log.

    python benchmarks/diagnostics/init_or_order.py table1 --method ign --init-seed 2 --data-seed 0
"""

from __future__ import annotations

import argparse

import torch

import ignbench.train.trainer
from ignbench.data import load_data
from ignbench.spec import load_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--method", required=True)
    parser.add_argument("--init-seed", type=int, required=True, help="seed of the initial weights")
    parser.add_argument("--data-seed", type=int, required=True, help="seed of everything else")
    parser.add_argument("--steps", type=int, default=600)
    args = parser.parse_args()
    cfgs = load_spec(args.spec).expand(args.preset, seeds=args.data_seed + 1)
    matches = [c for c in cfgs if c.method == args.method and c.seed == args.data_seed]
    if not matches:
        raise SystemExit(f"error: no {args.method} run with seed {args.data_seed} in {args.spec} [{args.preset}]")
    cfg = matches[0]
    build_model = ignbench.train.trainer.build_model

    def build_with_init_seed(run_cfg, dim):
        torch.manual_seed(args.init_seed)
        return build_model(run_cfg, dim)

    ignbench.train.trainer.build_model = build_with_init_seed
    trainer = ignbench.train.trainer.Trainer([cfg], [load_data(cfg)], torch.device("cpu"))
    rec = [trainer.step()[0]["rec"] for _ in range(args.steps)]
    means = [sum(rec[i : i + 100]) / len(rec[i : i + 100]) for i in range(0, args.steps, 100)]
    print(f"{args.method}, initial weights of seed {args.init_seed}, data of seed {args.data_seed}: "
          f"rec per 100 steps {' '.join(f'{m:.3f}' for m in means)}")


if __name__ == "__main__":
    main()
