"""Training loop: determinism, resume after a kill, divergence handling, the sweep going on."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import small_config
from ignbench.launch.local import run_local
from ignbench.store import Store
from ignbench.train import Trainer, train_run

PINNED_RUN_ID = "f31e81485837"  # computed by the code before curve_every existed


def _weights(store: Store, cfg) -> dict[str, torch.Tensor]:
    return torch.load(store.run_dir(cfg).checkpoint, weights_only=False)["model"]


@pytest.mark.parametrize("method,dataset", [("naign", "mnist-5k"), ("ign", "mnist-5k"), ("naign-", "2moons"),
                                            ("naign", "8gaussians")])
def test_killed_run_resumes_to_identical_weights(tmp_path, method, dataset):
    images = dataset == "mnist-5k"
    cfg = small_config(method=method, dataset=dataset, steps=8, replay_prob=0.5, prior="fft" if images else "gaussian",
                       curve_every=2 if images else 0, curve_n_samples=32)
    whole = Store(tmp_path / "whole")
    assert train_run(cfg, whole, checkpoint_every=3, progress=False) == "done"

    killed = Store(tmp_path / "killed")

    def kill_after_checkpoint(step: int) -> None:
        if step == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, killed, checkpoint_every=3, progress=False, on_step=kill_after_checkpoint)
    assert torch.load(killed.run_dir(cfg).checkpoint, weights_only=False)["step"] == 6
    assert train_run(cfg, killed, checkpoint_every=3, progress=False) == "done"

    for key, value in _weights(whole, cfg).items():
        torch.testing.assert_close(_weights(killed, cfg)[key], value, rtol=0, atol=0, msg=key)
    a = json.loads(whole.run_dir(cfg).eval.read_text())
    b = json.loads(killed.run_dir(cfg).eval.read_text())
    assert a == b
    assert killed.run_dir(cfg).log.read_text() == whole.run_dir(cfg).log.read_text()
    if images:
        assert killed.run_dir(cfg).curve.read_text() == whole.run_dir(cfg).curve.read_text()


@pytest.mark.parametrize("bn_mode", ["eval", "train"])
def test_fld_curve_is_recorded_and_does_not_change_training(tmp_path, bn_mode):
    """NAIGN Figs 4/9: FLD every curve_every steps, and the final weights equal those of a run without it."""
    plain = small_config(method="naign", steps=6, eval_bn_mode=bn_mode)
    watched = small_config(method="naign", steps=6, eval_bn_mode=bn_mode, curve_every=2, curve_n_samples=32)
    assert plain.run_id != watched.run_id
    store = Store(tmp_path)
    for cfg in (plain, watched):
        assert train_run(cfg, store, progress=False) == "done"
    for key, value in _weights(store, plain).items():
        torch.testing.assert_close(_weights(store, watched)[key], value, rtol=0, atol=0, msg=key)
    rows = store.run_dir(watched).curve.read_text().splitlines()
    assert rows[0] == "step,fld" and [r.split(",")[0] for r in rows[1:]] == ["2", "4", "6"]
    assert all(float(r.split(",")[1]) > 0 for r in rows[1:])
    assert not store.run_dir(plain).curve.exists()


def test_run_ids_of_stored_runs_survive_new_fields():
    """Fields added later (LATE_FIELDS) enter the hash only when set: this id was stored before they existed."""
    cfg = small_config(method="ign", dataset="2moons", seed=3)
    assert cfg.run_id == small_config(method="ign", dataset="2moons", seed=3, curve_n_samples=1000).run_id
    assert cfg.run_id == PINNED_RUN_ID


def test_training_is_deterministic_per_seed_and_differs_across_seeds(tmp_path):
    def final_loss(seed: int) -> float:
        trainer = Trainer(small_config(seed=seed, dataset="2moons"), _data("2moons"), torch.device("cpu"))
        return [trainer.step()["loss"] for _ in range(3)][-1]

    assert final_loss(0) == final_loss(0)
    assert final_loss(0) != final_loss(1)


def _data(name: str):
    from ignbench.data import load_data

    return load_data(small_config(dataset=name))


def test_nan_loss_marks_run_diverged_and_sweep_goes_on(tmp_path, monkeypatch):
    bad = small_config(dataset="2moons", seed=0)
    good = small_config(dataset="2moons", seed=1)
    original = Trainer.losses

    def losses(self, x):
        loss, terms = original(self, x)
        if self.cfg.seed == 0 and self.step_done == 2:
            return loss * float("nan"), terms
        return loss, terms

    monkeypatch.setattr(Trainer, "losses", losses)
    store = Store(tmp_path)
    results = run_local([bad, good], store, None, checkpoint_every=2, progress=False)
    assert results == {bad.run_id: "diverged", good.run_id: "done"}
    status = store.status(bad)
    assert status["state"] == "diverged" and status["step"] == 3 and "non-finite" in status["error"]
    assert not store.run_dir(bad).eval.exists()


def test_crash_in_one_run_is_recorded_as_failed_and_sweep_goes_on(tmp_path, monkeypatch):
    crash = small_config(dataset="2moons", seed=0)
    fine = small_config(dataset="2moons", seed=1)
    original = Trainer.step

    def step(self):
        if self.cfg.seed == 0:
            raise RuntimeError("boom")
        return original(self)

    monkeypatch.setattr(Trainer, "step", step)
    store = Store(tmp_path)
    assert run_local([crash, fine], store, None, 5, progress=False) == {crash.run_id: "failed", fine.run_id: "done"}
    status = store.status(crash)
    assert status["error"] == "RuntimeError: boom" and "Traceback" in status["traceback"]


def test_lowdim_evaluation_measures(tmp_path):
    cfg = small_config(dataset="grids", method="naign", steps=3, eval_n_samples=200, eval_n_real=200)
    store = Store(tmp_path)
    assert train_run(cfg, store, progress=False) == "done"
    metrics = json.loads(store.run_dir(cfg).eval.read_text())["metrics"]
    assert set(metrics) == {"f(x)", "f(z)", "f(f(z))", "drift", "drift_near"}
    assert metrics["f(z)"]["n_modes"] == 25
    assert 0 <= metrics["f(z)"]["modes_covered"] <= 25
    assert -1 <= metrics["drift"]["corr"] <= 1
