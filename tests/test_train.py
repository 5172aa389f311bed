"""Training: determinism, stacked ensembles equal to single runs, resume after a kill, corrupt checkpoints,
divergence and crashes, identities, evaluation beside evaluation."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from conftest import small_config
from ignbench import methods
from ignbench.data import load_data
from ignbench.launch.job import run_runs
from ignbench.store import Store
from ignbench.train.trainer import Trainer

PINNED_RUN_ID = "cadf25e1b42b"  # small_config(method="ign", dataset="2moons", seed=3), computed when ids were defined


def _weights(store: Store, cfg) -> dict[str, torch.Tensor]:
    return torch.load(store.run_dir(cfg).checkpoint, weights_only=False)["model"]


def _eval(store: Store, cfg) -> dict:
    return json.loads(store.eval_dir(cfg).eval.read_text())["metrics"]


def _kill_at(step_to_kill: int):
    def on_step(step: int) -> None:
        if step == step_to_kill:
            raise KeyboardInterrupt

    return on_step


@pytest.mark.parametrize("runs", [
    [("naign", "mnist-5k")], [("ign", "mnist-5k")],
    [("naign-", "2moons"), ("naign-", "8gaussians")],  # stacked: two runs in one trainer
    [("naign", "8gaussians"), ("naign", "grids")],
])
def test_killed_runs_resume_to_identical_weights_evaluation_and_logs(tmp_path, runs):
    cfgs = []
    for method, dataset in runs:
        images = dataset == "mnist-5k"
        cfgs.append(small_config(method=method, dataset=dataset, steps=8, replay_prob=0.5, curve_every=2,
                                 curve_n_samples=32, prior="fft" if images else "gaussian"))
    whole = Store(tmp_path / "whole")
    assert set(run_runs(cfgs, whole, checkpoint_every=3, progress=False).values()) == {"done"}

    killed = Store(tmp_path / "killed")
    with pytest.raises(KeyboardInterrupt):
        run_runs(cfgs, killed, checkpoint_every=3, progress=False, on_step=_kill_at(7))
    for cfg in cfgs:
        assert killed.status(cfg)["state"] == "interrupted"
        assert torch.load(killed.run_dir(cfg).checkpoint, weights_only=False)["step"] == 6
    assert set(run_runs(cfgs, killed, checkpoint_every=3, progress=False).values()) == {"done"}

    for cfg in cfgs:
        for key, value in _weights(whole, cfg).items():
            torch.testing.assert_close(_weights(killed, cfg)[key], value, rtol=0, atol=0, msg=key)
        assert _eval(killed, cfg) == _eval(whole, cfg)
        assert killed.run_dir(cfg).log.read_text() == whole.run_dir(cfg).log.read_text()
        assert killed.run_dir(cfg).curve.read_text() == whole.run_dir(cfg).curve.read_text()
        assert [a["from_step"] for a in killed.status(cfg)["attempts"]] == [0, 6]


@pytest.mark.parametrize("method", ["ign", "naign", "naign-"])
@pytest.mark.parametrize("dataset", ["trimodal", "8gaussians"])
def test_a_runs_numbers_do_not_depend_on_its_stack(method, dataset):
    """A run's weights are the same bit for bit alone and in two stacks with other partners (1-D and 2-D data):
    the stacked products are padded where a size is 1, and each IMLE search's shape does not depend on which
    partners replay that step."""
    def trained(seeds: list[int], which: int) -> dict:
        cfgs = [small_config(method=method, dataset=dataset, seed=s, hidden=32, batch_size=32, imle_chunk=64)
                for s in seeds]
        trainer = Trainer(cfgs, [load_data(c) for c in cfgs], torch.device("cpu"))
        for _ in range(40):  # a kernel that rounds otherwise shows bit for bit within a step
            trainer.step()
        return trainer.member_state(which)["model"]

    alone = trained([0], 0)
    for seeds, which in (([0, 1, 2], 0), ([7, 3, 0, 9, 11], 2)):
        for key, value in trained(seeds, which).items():
            torch.testing.assert_close(value, alone[key], rtol=0, atol=0, msg=f"{key} in stack {seeds}")


@pytest.mark.parametrize("method", ["ign", "naign", "naign-"])
def test_stacked_ensemble_matches_single_run_trainer(method):
    """Each member of a stack follows the trajectory of its run trained alone (weights and AdamW state, exactly),
    with its own generator, sampler and replay buffer (replay on, so members search on different steps)."""
    cfgs = [small_config(method=method, dataset=d, seed=s, hidden=32, replay_prob=0.5, imle_chunk=50)
            for d, s in (("2moons", 0), ("grids", 1), ("8gaussians", 2), ("2moons", 3))]
    datas = [load_data(c) for c in cfgs]
    stack = Trainer(cfgs, datas, torch.device("cpu"))
    assert stack.stacked
    for _ in range(12):
        stack.step()
    for e, (cfg, data) in enumerate(zip(cfgs, datas, strict=True)):
        alone = Trainer([cfg], [data], torch.device("cpu"))
        for _ in range(12):
            alone.step()
        member = stack.member_state(e)
        for key, value in alone.member_state(0)["model"].items():
            torch.testing.assert_close(member["model"][key], value, rtol=0, atol=0, msg=key)
        for i, state in alone.member_state(0)["opt"]["state"].items():
            torch.testing.assert_close(member["opt"]["state"][i]["exp_avg_sq"], state["exp_avg_sq"], rtol=0, atol=0)
        assert member["g"].equal(alone.members[0].g.get_state())  # same random numbers drawn


def test_stacked_and_single_checkpoints_are_interchangeable(tmp_path):
    """A run checkpointed inside a stack resumes alone (and vice versa) because members use the single format."""
    cfgs = [small_config(method="naign", dataset=d, seed=s, steps=8) for d, s in (("2moons", 0), ("grids", 1))]
    stacked = Store(tmp_path / "stacked")
    with pytest.raises(KeyboardInterrupt):
        run_runs(cfgs, stacked, checkpoint_every=4, progress=False, on_step=_kill_at(5))
    alone = Store(tmp_path / "alone")
    assert run_runs(cfgs, alone, progress=False) == {c.run_id: "done" for c in cfgs}
    assert run_runs(cfgs[:1], stacked, progress=False) == {cfgs[0].run_id: "done"}  # resumes on its own
    for key, value in _weights(alone, cfgs[0]).items():
        torch.testing.assert_close(_weights(stacked, cfgs[0])[key], value, rtol=1e-5, atol=1e-6)


def test_training_is_deterministic_per_seed_and_differs_across_seeds():
    def final_loss(seed: int) -> float:
        cfg = small_config(seed=seed, dataset="2moons")
        trainer = Trainer([cfg], [load_data(cfg)], torch.device("cpu"))
        return [trainer.step()[0]["loss"] for _ in range(3)][-1]

    assert final_loss(0) == final_loss(0)
    assert final_loss(0) != final_loss(1)


def test_fld_curve_records_both_batchnorm_modes_and_does_not_change_training(tmp_path):
    """NAIGN Figs 4/9: FLD every curve_every steps in eval and train mode; final weights equal a run without it."""
    plain = small_config(method="naign", steps=6)
    watched = small_config(method="naign", steps=6, curve_every=2, curve_n_samples=32)
    assert plain.run_id != watched.run_id
    store = Store(tmp_path)
    assert run_runs([plain, watched], store, progress=False) == {plain.run_id: "done", watched.run_id: "done"}
    for key, value in _weights(store, plain).items():
        torch.testing.assert_close(_weights(store, watched)[key], value, rtol=0, atol=0, msg=key)
    rows = store.run_dir(watched).curve.read_text().splitlines()
    assert rows[0] == "step,bn_mode,metric,value"
    points = [r.split(",") for r in rows[1:]]
    assert [(p[0], p[1], p[2]) for p in points] == [(s, m, metric) for s in ("2", "4", "6") for m in ("eval", "train")
                                                    for metric in ("fld", "spread", "distinct_nn")]
    assert all(float(p[3]) > 0 for p in points if p[2] == "fld")
    assert all(0 <= float(p[3]) <= 1 for p in points if p[2] == "distinct_nn")
    assert not store.run_dir(plain).curve.exists()


def test_run_id_hashes_only_non_default_training_fields():
    cfg = small_config(method="ign", dataset="2moons", seed=3)
    assert cfg.run_id == PINNED_RUN_ID
    assert cfg.replace(curve_n_samples=1000).run_id == cfg.run_id  # a field set to its default
    assert cfg.replace(eval_n_samples=7).run_id == cfg.run_id  # evaluation fields are not training identity
    assert cfg.replace(eval_n_samples=7).eval_id != cfg.eval_id
    assert cfg.replace(steps=7).run_id != cfg.run_id
    assert cfg.replace(steps=7).eval_id == cfg.eval_id


def test_equal_runs_have_equal_ids_and_the_device_is_part_of_a_run():
    """M written as imle_m or as its multiple of the batch is one run; a run on CUDA is another run (its numbers
    differ), while a CPU run keeps the id it always had."""
    cfg = small_config(method="naign", batch_size=32)
    assert cfg.replace(imle_m=320).run_id == cfg.run_id  # 10 x 32, the default factor
    assert cfg.replace(imle_m=64).run_id == cfg.replace(imle_m_factor=2.0).run_id
    assert cfg.replace(imle_m=33).run_id == cfg.replace(imle_m_factor=33 / 32).run_id
    assert cfg.replace(imle_m=33).run_id != cfg.run_id
    assert cfg.replace(device="cuda").run_id != cfg.run_id
    assert cfg.replace(device="cpu").run_id == cfg.run_id


def test_new_evaluation_settings_add_an_evaluation_beside_the_old(tmp_path):
    cfg = small_config(dataset="2moons", steps=3)
    store = Store(tmp_path)
    assert run_runs([cfg], store, progress=False) == {cfg.run_id: "done"}
    first = _eval(store, cfg)
    other = cfg.replace(eval_n_samples=64, prdc_k=3)
    assert run_runs([other], store, progress=False, evaluate_only=True) == {cfg.run_id: "done"}
    evals = sorted(p.name for p in (store.run_dir(cfg).path / "evals").iterdir())
    assert evals == sorted([cfg.eval_id, other.eval_id])
    assert _eval(store, cfg) == first
    assert _eval(store, other) != first
    assert [a["from_step"] for a in store.status(cfg)["attempts"]] == [0, 3]  # evaluated, not retrained


def test_nan_in_one_member_marks_it_diverged_and_the_others_go_on(tmp_path, monkeypatch):
    bad, good = small_config(dataset="2moons", seed=0, steps=6), small_config(dataset="8gaussians", seed=1, steps=6)
    store_alone = Store(tmp_path / "alone")
    run_runs([good], store_alone, progress=False)
    original = methods.METHODS["naign"]
    calls = {"n": 0}

    def loss(terms, cfg, warm):
        calls["n"] += 1
        value = original.loss(terms, cfg, warm)
        if calls["n"] == 3:
            value = value * torch.tensor([float("nan"), 1.0])
        return value

    monkeypatch.setitem(methods.METHODS, "naign", dataclasses.replace(original, loss=loss))
    store = Store(tmp_path / "stack")
    assert run_runs([bad, good], store, checkpoint_every=2, progress=False) == {bad.run_id: "diverged",
                                                                               good.run_id: "done"}
    status = store.status(bad)
    assert status["state"] == "diverged" and status["step"] == 3 and "non-finite" in status["error"]
    assert not store.eval_dir(bad).eval.exists()
    for key, value in _weights(store_alone, good).items():
        torch.testing.assert_close(_weights(store, good)[key], value, rtol=1e-5, atol=1e-6)


def test_crash_in_one_run_is_recorded_as_failed_and_the_sweep_goes_on(tmp_path, monkeypatch):
    crash = small_config(seed=0, steps=3)
    fine = small_config(seed=1, steps=3)
    original = Trainer.step

    def step(self):
        if self.cfg.seed == 0:
            raise RuntimeError("boom")
        return original(self)

    monkeypatch.setattr(Trainer, "step", step)
    store = Store(tmp_path)
    assert run_runs([crash, fine], store, progress=False) == {crash.run_id: "failed", fine.run_id: "done"}
    status = store.status(crash)
    assert status["error"] == "RuntimeError: boom" and "Traceback" in status["traceback"]


def test_corrupt_checkpoint_falls_back_to_the_previous_one(tmp_path):
    cfg = small_config(dataset="2moons", steps=8)
    whole = Store(tmp_path / "whole")
    run_runs([cfg], whole, checkpoint_every=2, progress=False)
    store = Store(tmp_path / "damaged")
    with pytest.raises(KeyboardInterrupt):
        run_runs([cfg], store, checkpoint_every=2, progress=False, on_step=_kill_at(7))
    rd = store.run_dir(cfg)
    rd.checkpoint.write_bytes(rd.checkpoint.read_bytes()[:100])  # truncated newest (step 6); step 4 survives
    assert run_runs([cfg], store, checkpoint_every=2, progress=False) == {cfg.run_id: "done"}
    status = store.status(cfg)
    assert status["attempts"][-1]["from_step"] == 4
    assert "checkpoint.pt: corrupt checkpoint" in status["checkpoint_notes"][0]
    for key, value in _weights(whole, cfg).items():
        torch.testing.assert_close(_weights(store, cfg)[key], value, rtol=0, atol=0)


def test_unreadable_checkpoints_fail_with_one_line_and_retry_restarts_from_zero(tmp_path):
    cfg = small_config(dataset="2moons", steps=8)
    store = Store(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run_runs([cfg], store, checkpoint_every=2, progress=False, on_step=_kill_at(7))
    rd = store.run_dir(cfg)
    rd.checkpoint.write_bytes(b"not a checkpoint")
    rd.previous_checkpoint.write_bytes(b"")
    assert run_runs([cfg], store, progress=False) == {cfg.run_id: "failed"}
    error = store.status(cfg)["error"]
    assert str(rd.checkpoint) in error and "--retry-failed" in error and "\n" not in error
    assert run_runs([cfg], store, progress=False, restart_corrupt=True) == {cfg.run_id: "done"}
    assert store.status(cfg)["attempts"][-1]["from_step"] == 0
    assert (rd.path / "checkpoint.pt.corrupt").exists()


def test_lowdim_evaluation_measures(tmp_path):
    cfg = small_config(dataset="grids", method="naign", steps=3, eval_n_samples=200, eval_n_real=200)
    store = Store(tmp_path)
    assert run_runs([cfg], store, progress=False) == {cfg.run_id: "done"}
    metrics = _eval(store, cfg)
    assert set(metrics) == {"none"}  # an MLP has no BatchNorm: one evaluation
    assert set(metrics["none"]) == {"f(x)", "f(z)", "f(f(z))", "drift", "drift_near"}
    assert metrics["none"]["f(z)"]["n_modes"] == 25
    assert 0 <= metrics["none"]["f(z)"]["modes_covered"] <= 25
    assert -1 <= metrics["none"]["drift"]["corr"] <= 1


@pytest.mark.parametrize("dataset,extra", [("mnist-5k", {}), ("mnist-5k", {"eval_projector": True}),
                                           ("grids", {}), ("2moons", {})])
def test_evaluation_records_exactly_what_claims_can_name(tmp_path, dataset, extra):
    """`evaluate.produced` (what specs' claims are checked against) is what an evaluation writes."""
    from ignbench.evaluate.outputs import produced

    cfg = small_config(dataset=dataset, steps=2, fk_steps=[1, 3], fk_samples=8, interp_pairs=3,
                       arithmetic_triplets=8, **extra)
    store = Store(tmp_path)
    run_runs([cfg], store, progress=False)
    for mode, applications in _eval(store, cfg).items():
        assert {app: set(values) for app, values in applications.items()} == produced(cfg), mode


@pytest.mark.parametrize("method,dataset", [("naign", "mnist-5k"), ("ign", "8gaussians"), ("naign-", "2moons")])
def test_device_resident_path_on_the_cpu(method, dataset):
    """The accelerator path (data, replay buffer and noise kept on the device; a separate host generator for the
    replay coin) forced on the CPU: deterministic, resumable from its checkpoint, and close to the default path
    in its first loss (same weights and batches, other noise)."""
    cfg = small_config(method=method, dataset=dataset, replay_prob=0.5)
    data = load_data(cfg)

    def run(steps: int, state: dict | None = None) -> Trainer:
        t = Trainer([cfg], [data], torch.device("cpu"), resident=True)
        if state is not None:
            t.load_member_states([state])
        for _ in range(steps):
            t.step()
        return t

    whole = run(8)
    assert "g_host" in whole.member_state(0)
    resumed = run(4, run(4).member_state(0))
    for key, value in whole.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=0)
    assert whole.members[0].g is not whole.members[0].g_host
    default = Trainer([cfg], [data], torch.device("cpu"))
    assert default.members[0].g is default.members[0].g_host


def test_bf16_autocast_trains_and_stays_close_to_float32():
    cfg = small_config(method="naign", replay_prob=0.0)
    data = load_data(cfg)
    fp32 = Trainer([cfg], [data], torch.device("cpu"))
    bf16 = Trainer([cfg.replace(autocast_bf16=True)], [data], torch.device("cpu"))
    assert cfg.replace(autocast_bf16=True).run_id != cfg.run_id  # recorded in the run's identity
    a, b = fp32.step()[0], bf16.step()[0]
    assert b["loss"] == pytest.approx(a["loss"], rel=0.05)
    for _ in range(3):
        assert all(torch.isfinite(torch.tensor(list(r.values()))).all() for r in bf16.step())
