"""What did a stored image run learn to generate? Three rows per run: z, f(z) and f(f(z)).

Loads each run's newest checkpoint and writes one PNG, runs from top to bottom in the order given, the same
prior draws for every run. Useful beside a table of per-seed numbers, where a bad FLD can mean poor digits or a
generator that maps every z to one image.

    python benchmarks/diagnostics/samples.py results/runs/table1/<run id> ... --out samples.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from stored_run import resume
from torchvision.utils import save_image

from ignbench.evaluate.run import bn_mode


def rows_of(run_dir: Path, n: int, mode: str) -> torch.Tensor:
    """z (clipped to the image range), f(z) and f(f(z)) of one run, in [-1, 1]."""
    _, trainer = resume(run_dir)
    model = trainer.member_model(0)
    z = trainer.members[0].prior.sample(n, torch.Generator().manual_seed(0))
    with torch.no_grad(), bn_mode(model, mode):
        fz = model(z)
        return torch.cat([z.clamp(-1, 1), fz, model(fz)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--n", type=int, default=12, help="samples per row")
    parser.add_argument("--bn-mode", choices=["eval", "train"], default="eval",
                        help="BatchNorm mode (train: statistics of the n samples)")
    args = parser.parse_args()
    images = torch.cat([rows_of(d, args.n, args.bn_mode) for d in args.run_dirs])
    save_image(images * 0.5 + 0.5, args.out, nrow=args.n, padding=1)
    print(f"wrote {args.out}: {len(args.run_dirs)} runs x (z, f(z), f(f(z)))")


if __name__ == "__main__":
    main()
