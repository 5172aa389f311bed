"""The optimisation of one run, or of several low-dimensional runs of one shape trained together as an ensemble.

With E > 1 members the networks are one `StackedMLP` (member e = run e) and one AdamW steps the stacked weights;
AdamW is elementwise, so that is exactly E separate optimisers. Every member keeps its own generator, batch
sampler, replay buffer and prior, and draws its random numbers in the same order as a single-run trainer, so a
member follows the same trajectory as the run trained alone (up to float summation order in batched matmuls).
Each member's state (`member_state`) has the single-run checkpoint format: runs move freely between the two.

On an accelerator (`resident`), a member's training data, replay buffer and noise live on the device: batches and
noise are drawn with a device generator and the replay coin is tossed by a host generator, so no step moves data
between host and device or waits for the device. On the CPU one generator does both, exactly as always.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ignbench.core.config import RunConfig
from ignbench.data import Data
from ignbench.methods import METHODS, Batch, objectives
from ignbench.methods.models import StackedMLP, build_model
from ignbench.methods.noise import Prior


class BatchSampler:
    """Mini-batches: epochs of random permutations of a finite set, or fresh draws from a toy distribution."""

    def __init__(self, data: Data, batch_size: int):
        self.data = data
        self.batch_size = batch_size
        self.perm = torch.empty(0, dtype=torch.long)
        self.pos = 0

    def next(self, g: torch.Generator) -> torch.Tensor:
        if self.data.toy is not None:
            return self.data.toy.sample(self.batch_size, g)
        n = len(self.data.train)
        if self.pos + self.batch_size > len(self.perm):
            self.perm = torch.randperm(n, generator=g, device=g.device)
            self.pos = 0
        idx = self.perm[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        return self.data.train[idx]

    def state_dict(self) -> dict:
        return {"perm": self.perm, "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.perm, self.pos = state["perm"].to(self.data.train.device), state["pos"]


class Member:
    """What is one run's own in a trainer: config, data, generators, sampler, replay buffer, prior, logs.

    `g` draws batches and noise (on the device when resident); `g_host` tosses the replay coin. On the CPU they
    are one generator."""

    def __init__(self, cfg: RunConfig, data: Data, device: torch.device, resident: bool = False):
        self.cfg = cfg
        self.device = device
        self.prior = Prior.fit(cfg.prior, data.train)
        if resident:
            train = data.train.pin_memory() if device.type == "cuda" else data.train  # one pinned upload
            data = Data(train=train.to(device, non_blocking=True), test=data.test, test_all=data.test_all,
                        toy=data.toy)
            self.g = torch.Generator(device).manual_seed(cfg.seed)
            self.g_host = torch.Generator().manual_seed(cfg.seed)
        else:
            self.g = self.g_host = torch.Generator().manual_seed(cfg.seed)
        self.data = data
        self.sampler = BatchSampler(data, cfg.batch_size)
        self.replay = objectives.ReplayBuffer(cfg.replay_capacity)
        self.log: list[dict[str, float]] = []
        self.curve: list[dict] = []

    def sample_z(self, n: int) -> torch.Tensor:
        return self.prior.sample(n, self.g).to(self.device)

    def state(self) -> dict:
        host = {"g_host": self.g_host.get_state()} if self.g_host is not self.g else {}
        return {"g": self.g.get_state(), **host, "sampler": self.sampler.state_dict(),
                "replay": self.replay.state_dict(), "prior": self.prior.state_dict(), "log": self.log,
                "curve": self.curve, "config": self.cfg.to_dict()}

    def load(self, state: dict) -> None:
        self.g.set_state(state["g"])
        if self.g_host is not self.g:
            self.g_host.set_state(state.get("g_host", state["g"]))
        self.sampler.load_state_dict(state["sampler"])
        self.replay.load_state_dict(state["replay"])
        self.prior = Prior.from_state_dict(state["prior"])
        self.log = list(state["log"])
        self.curve = list(state.get("curve", []))


def make_optimizer(cfg: RunConfig, params) -> torch.optim.Optimizer:
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas))


def stack_optimizer_states(states: list[dict]) -> dict:
    """E single-run Adam(W) state dicts -> the state dict of one optimiser over the stacked weights."""
    stacked = {"param_groups": copy.deepcopy(states[0]["param_groups"]), "state": {}}
    for i, first in states[0]["state"].items():
        stacked["state"][i] = {k: v.clone() if k == "step" else torch.stack([s["state"][i][k] for s in states])
                               for k, v in first.items()}
    return stacked


def member_optimizer_state(stacked: dict, e: int) -> dict:
    """Member e's slice of a stacked optimiser state dict, in the single-run format."""
    return {"param_groups": copy.deepcopy(stacked["param_groups"]),
            "state": {i: {k: v.clone() if k == "step" else v[e].clone() for k, v in s.items()}
                      for i, s in stacked["state"].items()}}


class Trainer:
    """Trains its members in lockstep; `step()` does one optimisation step of every member."""

    def __init__(self, cfgs: list[RunConfig], datas: list[Data], device: torch.device, stacked: bool | None = None,
                 resident: bool | None = None):
        self.cfg = cfgs[0]
        self.method = METHODS[self.cfg.method]
        self.device = device
        # low-dimensional runs always take the stacked path, alone too: a run's numbers must not depend on whether,
        # or with whom, it was stacked (StackedLinear's products are the same for every stack size)
        self.stacked = not self.cfg.image if stacked is None else stacked
        if self.stacked and self.cfg.image:
            raise ValueError("only MLP runs (low-dimensional data) can be stacked")
        self.resident = device.type != "cpu" if resident is None else resident
        self.dim = datas[0].train.shape[-1]
        self.members = [Member(cfg, data, device, self.resident) for cfg, data in zip(cfgs, datas, strict=True)]
        models = []
        for cfg in cfgs:
            torch.manual_seed(cfg.seed)  # torch's global generator is used for initialisation only
            models.append(build_model(cfg, self.dim))
        self.template = models[0]
        self._assemble([m.state_dict() for m in models])
        self.step_done = 0

    def _assemble(self, model_states: list[dict], opt_states: list[dict] | None = None) -> None:
        if self.stacked:
            self.model: nn.Module = StackedMLP(model_states, self.template).to(self.device)
        else:
            self.template.load_state_dict(model_states[0])
            self.model = self.template.to(self.device)
        self.opt = make_optimizer(self.cfg, self.model.parameters())
        if opt_states is not None:
            self.opt.load_state_dict(stack_optimizer_states(opt_states) if self.stacked else opt_states[0])

    def _stack(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(tensors) if self.stacked else tensors[0]

    def step(self) -> list[dict[str, float]]:
        """One step of every member; returns one logged row per member (loss non-finite: the member diverged,
        and its weights must be dropped with `drop`)."""
        self.model.train()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.autocast_bf16):
            batch = self._batch()
            terms = self.method.terms(self.model, batch, self.cfg)
            loss = self.method.loss(terms, self.cfg, self.step_done < self.cfg.warmup_steps).reshape(-1).float()
        values = {"loss": loss.detach()} | {k: v.detach().reshape(-1) for k, v in terms.items()}
        rows = [{"step": self.step_done + 1} | {k: float(v[e]) for k, v in values.items()}
                for e in range(len(self.members))]
        finite = torch.isfinite(loss.detach())
        if bool(finite.any()):
            self.opt.zero_grad(set_to_none=True)
            loss[finite].sum().backward()
            self.opt.step()
        self.step_done += 1
        return rows

    def _batch(self) -> Batch:
        xs = [m.sampler.next(m.g).to(self.device) for m in self.members]
        x_imle = z_star = None
        if self.method.imle:
            x_imle, z_star = self._imle_pairs(xs)
        zs = [m.sample_z(len(x)) for m, x in zip(self.members, xs, strict=True)]
        return Batch(self._stack(xs), self._stack(zs), x_imle, z_star)

    def _imle_pairs(self, xs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per member: a stored (x, z*) pair with probability replay_prob, else a fresh nearest-neighbour search
        (done for all searching members at once), whose pair is stored."""
        pairs: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(self.members)
        search = []
        for e, m in enumerate(self.members):
            if m.replay.pairs and float(torch.rand(1, generator=m.g_host)) < self.cfg.replay_prob:
                x_old, z_old = m.replay.draw(m.g_host)
                pairs[e] = (x_old.to(self.device), z_old.to(self.device))
            else:
                search.append(e)
        if search:
            partial = self.stacked and len(search) < len(self.members)
            model = self.model.subset(search) if partial else self.model
            found = objectives.imle_nearest(
                model, self._stack([xs[e] for e in search]),
                lambda n: self._stack([self.members[e].sample_z(n) for e in search]),
                self.cfg.resolved_imle_m, self.cfg.imle_chunk, self.cfg.distance)
            for i, e in enumerate(search):
                z_e = found[i] if self.stacked else found
                self.members[e].replay.push(xs[e], z_e)  # kept where they are: on the device when resident
                pairs[e] = (xs[e], z_e)
        return self._stack([p[0] for p in pairs]), self._stack([p[1] for p in pairs])

    def member_state(self, e: int) -> dict:
        """Member e's checkpoint, in the single-run format."""
        model = self.model.member_state(e) if self.stacked else self.model.state_dict()
        opt = member_optimizer_state(self.opt.state_dict(), e) if self.stacked else self.opt.state_dict()
        return {"model": model, "opt": opt, "step": self.step_done, **self.members[e].state()}

    def load_member_states(self, states: list[dict]) -> None:
        """Resume every member from its checkpoint (all at the same step)."""
        steps = {s["step"] for s in states}
        if len(steps) != 1:
            raise ValueError(f"members to stack are at different steps {sorted(steps)}")
        for member, state in zip(self.members, states, strict=True):
            member.load(state)
        self._assemble([s["model"] for s in states], [s["opt"] for s in states])
        self.step_done = steps.pop()

    def drop(self, indices: list[int]) -> None:
        """Remove members (diverged runs); the others go on unchanged."""
        keep = [e for e in range(len(self.members)) if e not in set(indices)]
        if not keep:
            self.members = []
            return
        states = [self.member_state(e) for e in keep]
        self.members = [self.members[e] for e in keep]
        self.load_member_states(states)

    def member_model(self, e: int) -> nn.Module:
        """Member e's network as a plain (unstacked) model."""
        if not self.stacked:
            return self.model
        model = copy.deepcopy(self.template)
        model.load_state_dict(self.model.member_state(e))
        return model.to(self.device)
