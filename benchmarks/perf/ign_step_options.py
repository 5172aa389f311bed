"""Where an IGN training step's time goes on this machine, and what the usual CPU options give.

DCGAN width 64, batch 256, 32x32 (`table1`'s paper shape), IGN's listing objective. In the same run:
- the listing's step (deepcopy + load_state_dict, f_copy applied separately) on the paper's layers (plain
  nn.Conv2d / nn.ConvTranspose2d) and ignbench's, full steps with Adam: loss, backward, optimizer step;
- ignbench's step with the plain layers instead of its matrix-product forms of the two dense layers;
- options on ignbench's step: channels-last tensors, `torch.compile` of the network, Adam with `fused=True`
  and with `foreach=True`;
- every variant's float32 gradients against the listing's in float64 (`common.gradient_error`): a variant
  computes the listing's gradients if it is as close to them as the float32 listing itself (within x2);
- the step's FLOPs (torch.utils.flop_counter; the listing's less one forward) over its time, against this
  machine's sgemm peak (a 4096^3 float32 matmul timed here);
- the profiler's top operators by self time.
Run: `python benchmarks/perf/ign_step_options.py` (add --no-compile to skip torch.compile's minute of compiling).
"""

from __future__ import annotations

import argparse
import copy

import torch
from common import best_of, exact_listing_grads, gradient_error, ign_grads, ign_listing_grads, paper_layers
from torch.utils.flop_counter import FlopCounterMode

from ignbench.core.config import RunConfig
from ignbench.methods.models import DCGANAutoencoder, init_weights

BATCH, WIDTH, SIZE = 256, 64, 32


def ign_cfg() -> RunConfig:
    return RunConfig(experiment="perf", preset="perf", method="ign", dataset="mnist-5k", seed=0, steps=1,
                     batch_size=BATCH, model_width=WIDTH, distance="mse", w_idem=1.0, w_tight=0.1)


def make_model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = DCGANAutoencoder(channels=1, size=SIZE, width=WIDTH)
    model.apply(init_weights)
    return model


def with_adam(grads_fn, model: torch.nn.Module, **adam):
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.5, 0.999), **adam)

    def step() -> None:
        grads_fn()
        opt.step()
    return step


def sgemm_peak() -> float:
    a, b = torch.randn(4096, 4096), torch.randn(4096, 4096)
    (seconds,) = best_of(lambda: a @ b, repeat=3)
    return 2 * 4096**3 / seconds / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cfg = ign_cfg()
    torch.manual_seed(1)
    x = torch.rand(BATCH, 1, SIZE, SIZE) * 2 - 1
    z = torch.randn(BATCH, 1, SIZE, SIZE)
    reference = paper_layers(make_model())
    state = copy.deepcopy(reference.state_dict())
    exact = exact_listing_grads(reference, x, z)

    variants = {"listing": (reference, ign_listing_grads(reference, x, z), {})}
    ours = make_model()
    variants["ignbench"] = (ours, ign_grads(ours, cfg, x, z), {})
    plain = paper_layers(make_model())
    variants["ignbench, plain conv layers"] = (plain, ign_grads(plain, cfg, x, z), {})
    cl = make_model().to(memory_format=torch.channels_last)
    xc, zc = x.contiguous(memory_format=torch.channels_last), z.contiguous(memory_format=torch.channels_last)
    variants["ignbench, channels-last"] = (cl, ign_grads(cl, cfg, xc, zc), {})
    variants["ignbench, Adam fused"] = (ours, ign_grads(ours, cfg, x, z), {"fused": True})
    variants["ignbench, Adam foreach"] = (ours, ign_grads(ours, cfg, x, z), {"foreach": True})
    if not args.no_compile:
        compiled = make_model()
        compiled_fn = torch.compile(compiled)
        variants["ignbench, torch.compile"] = (compiled, ign_grads(compiled_fn, cfg, x, z), {})

    steps, errors = {}, {}
    for name, (model, grads_fn, adam) in variants.items():
        model.load_state_dict(state)
        errors[name] = gradient_error(grads_fn(), exact)
        model.load_state_dict(state)
        steps[name] = with_adam(grads_fn, model, **adam)
    times = dict(zip(steps, best_of(*steps.values(), repeat=args.repeat), strict=True))

    # The counter cannot follow ignbench's custom backward (autograd.grad inside a Function), so it counts the
    # listing's step, and ignbench's is that less the forward of f_copy it shares with f(f(z)).
    with FlopCounterMode(display=False) as counter:
        variants["listing"][1]()
    with FlopCounterMode(display=False) as forward, torch.no_grad():
        reference(z)
    gflop = (counter.get_total_flops() - forward.get_total_flops()) / 1e9
    peak = sgemm_peak()
    base = times["listing"]
    print(f"IGN step, DCGAN width {WIDTH}, batch {BATCH}, {SIZE}x{SIZE}, {torch.get_num_threads()} threads "
          f"(loss + backward + Adam):")
    tolerance = 2 * errors["listing"]
    print(f"  gradient error: |g - g64| / |g64| of a step's float32 gradient g against the listing's in float64; "
          f"the float32 listing's own is {errors['listing']:.1e}")
    for name, seconds in times.items():
        print(f"  {name:<30} {seconds * 1e3:7.1f} ms  x{base / seconds:4.2f} over the listing  "
              f"gradient error {errors[name]:.1e} ({'equal' if errors[name] <= tolerance else 'NOT equal'})")
    print(f"  forward + backward FLOPs {gflop:.1f} GFLOP; ignbench achieves {gflop / times['ignbench']:.0f} GFLOP/s, "
          f"{gflop / times['ignbench'] / peak:.0%} of this machine's sgemm peak ({peak:.0f} GFLOP/s, 4096^3 float32)")
    model, grads_fn, _ = variants["ignbench"]
    with torch.profiler.profile() as prof:
        grads_fn()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))


if __name__ == "__main__":
    main()
