"""Would more steps have helped? Continue a stored image run past its last checkpoint and watch it.

Trains on from the run's newest checkpoint to --steps with the same random streams (so, with a constant learning
rate, exactly the longer run), and prints every --every steps the mean reconstruction loss of the last 100 steps
and the FLD of f(z) on the run's training-curve samples, BatchNorm eval mode. Nothing is written to the store.
--method continues under another method's objective from the same state: a stalled NAIGN run continued as
NAIGN- tells whether its idempotence term holds it.

    OMP_NUM_THREADS=1 python benchmarks/diagnostics/continue_run.py results/runs/table1/<run id> --steps 3000
    OMP_NUM_THREADS=1 python benchmarks/diagnostics/continue_run.py <a NAIGN run> --steps 2100 --method naign-
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stored_run import resume

from ignbench.evaluate.run import Curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="a run's folder in the store (it holds config.json)")
    parser.add_argument("--steps", type=int, required=True, help="total steps to train to")
    parser.add_argument("--every", type=int, default=300)
    parser.add_argument("--method", help="continue under this method's objective (naign <-> naign-)")
    args = parser.parse_args()
    cfg, trainer = resume(args.run_dir, args.steps, args.method)
    member = trainer.members[0]
    curve = Curve(cfg, member.data, member.prior)
    rec: list[float] = []
    while trainer.step_done < args.steps:
        rec.append(trainer.step()[0]["rec"])
        if trainer.step_done % args.every == 0:
            fld = next(v for mode, _, v in curve.point(trainer.member_model(0)) if mode == "eval")
            print(f"{cfg.method} seed {cfg.seed} step {trainer.step_done}: rec {sum(rec[-100:]) / len(rec[-100:]):.3f},"
                  f" FLD of f(z) {fld:.0f} ({cfg.curve_n_samples} samples, eval mode)", flush=True)


if __name__ == "__main__":
    main()
