"""On a GPU: one training step of every method on CUDA against the CPU, then paper-preset steps per second.

1. Same weights, same batch (drawn on the CPU), TF32 off: the loss on CUDA must match the CPU's (rtol 1e-3), and
   CUDA's float32 gradient must be as close to the step's float64 gradient (computed on the CPU) as the CPU's
   float32 gradient is, within x2 (|g - g64| / |g64|, `common.gradient_error`; two float32 summation orders
   differ entrywise by up to a few % where BatchNorm's backward cancels, so entrywise allclose would fail a
   correct device). Checked for the DCGAN (MNIST 32 x 32, width 64, batch 256) and the MLP (2D, 512, batch 512).
2. Steps per second of each method at the paper presets on the device (data, replay buffer and noise resident),
   float32 and bf16 autocast, after a warm-up.
`python benchmarks/perf/gpu_smoke.py [--steps 50]`; exit code 1 when a check fails. Without CUDA it says so and
exits 0: there is nothing to compare.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time

import torch
from common import gradient_error

from ignbench.core.config import RunConfig
from ignbench.data import load_data
from ignbench.methods import METHODS, Batch
from ignbench.train.trainer import Trainer

SETUPS = {
    "DCGAN, MNIST 32x32": dict(dataset="mnist-5k", batch_size=256, model_width=64, prior="fft", distance="l1",
                               eval_kind="generation"),
    "MLP 3x512, 2D": dict(dataset="2moons", batch_size=512, hidden=512, distance="l2", eval_kind="lowdim"),
}


def config(method: str, setup: dict, **extra) -> RunConfig:
    return RunConfig(experiment="gpu", preset="gpu", method=method, seed=0, steps=1, **setup, **extra)


def gradients(model: torch.nn.Module, batch: Batch, cfg: RunConfig) -> tuple[float, list[torch.Tensor]]:
    method = METHODS[cfg.method]
    model.zero_grad(set_to_none=True)
    loss = method.loss(method.terms(model, batch, cfg), cfg, False).sum()
    loss.backward()
    return float(loss.detach()), [p.grad.detach().cpu() for p in model.parameters()]


def moved(batch: Batch, device: str, dtype: torch.dtype | None = None) -> Batch:
    return Batch(*(t.to(device, dtype) if t is not None else None
                   for t in (batch.x, batch.z, batch.x_imle, batch.z_star)))


def check_step(method: str, name: str, setup: dict, device: str = "cuda") -> bool:
    cfg = config(method, setup)
    cpu = Trainer([cfg], [load_data(cfg)], torch.device("cpu"), stacked=False)  # the plain model, unbatched
    cpu.model.train()
    batch = cpu._batch()
    _, exact = gradients(copy.deepcopy(cpu.model).double(), moved(batch, "cpu", torch.float64), cfg)
    on_device = copy.deepcopy(cpu.model).to(device)
    loss_cpu, grads_cpu = gradients(cpu.model, batch, cfg)
    loss_dev, grads_dev = gradients(on_device, moved(batch, device), cfg)
    err_cpu, err_dev = gradient_error(grads_cpu, exact), gradient_error(grads_dev, exact)
    ok = abs(loss_dev - loss_cpu) <= 1e-3 * abs(loss_cpu) and err_dev <= 2 * err_cpu + 1e-12
    print(f"{'ok  ' if ok else 'FAIL'} {method:<7} {name}: loss cpu {loss_cpu:.6g} {device} {loss_dev:.6g}; "
          f"gradient error against float64: cpu {err_cpu:.1e}, {device} {err_dev:.1e}")
    return ok


def steps_per_second(method: str, setup: dict, steps: int, bf16: bool) -> float:
    cfg = config(method, setup, autocast_bf16=bf16)
    trainer = Trainer([cfg], [load_data(cfg)], torch.device("cuda"))
    for _ in range(5):
        trainer.step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    torch.cuda.synchronize()
    return steps / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device here: nothing to check (run this on a GPU node)")
        return 0
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    ok = all([check_step(m, name, setup) for name, setup in SETUPS.items() for m in METHODS])
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    print("| setup | method | steps/s float32 | steps/s bf16 autocast |")
    print("|---|---|---|---|")
    for name, setup in SETUPS.items():
        for method in METHODS:
            fp32 = steps_per_second(method, setup, args.steps, False)
            bf16 = steps_per_second(method, setup, args.steps, True)
            print(f"| {name} | {method} | {fp32:.2f} | {bf16:.2f} |", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
