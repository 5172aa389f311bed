"""Face datasets (CelebA in torchvision's layout, an FFHQ-100 folder, the LFW-100 stand-in) and the few-shot
memorisation measures."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from ignbench.core.config import RunConfig
from ignbench.core.errors import UserError
from ignbench.data.images import load_labelled
from ignbench.evaluate.metrics.memorisation import memorisation, nearest_training_images


def _faces(folder, n, size=(80, 80), start=0):
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(start)
    names = []
    for i in range(start, start + n):
        pixels = torch.randint(0, 256, (size[1], size[0], 3), generator=g, dtype=torch.uint8).numpy()
        name = f"{i:06d}.jpg"
        Image.fromarray(pixels).save(folder / name, quality=95)
        names.append(name)
    return names


def test_celeba_layout_is_read_split_resized_and_cropped(tmp_path):
    """A tiny CelebA in torchvision's layout: 178 x 218 JPEGs, partition file with train (0), valid (1), test (2)."""
    names = _faces(tmp_path / "celeba" / "img_align_celeba", 7, size=(178, 218))
    split = [0, 0, 0, 1, 2, 2, 0]
    (tmp_path / "celeba" / "list_eval_partition.txt").write_text(
        "".join(f"{n} {s}\n" for n, s in zip(names, split, strict=True)))
    train, _, test, _ = load_labelled("celeba", 64, tmp_path)
    assert train.shape == (4, 3, 64, 64) and test.shape == (2, 3, 64, 64)
    assert train.min() >= -1 and train.max() <= 1
    assert (tmp_path / "celeba" / "ignbench_64.pt").is_file()  # decoded once


def test_celeba_missing_or_with_a_missing_image_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("IGNBENCH_OFFLINE", "1")
    with pytest.raises(UserError, match="CelebA not found under .*celeba.*--data-root"):
        load_labelled("celeba", 64, tmp_path / "nothing")
    names = _faces(tmp_path / "celeba" / "img_align_celeba", 2, size=(178, 218))
    (tmp_path / "celeba" / "list_eval_partition.txt").write_text(f"{names[0]} 0\nabsent.jpg 2\n")
    with pytest.raises(UserError, match="absent.jpg: missing or not a readable image"):
        load_labelled("celeba", 32, tmp_path)


def test_ffhq100_folder_and_its_errors(tmp_path):
    folder = tmp_path / "ffhq-100"
    with pytest.raises(UserError, match="found 0 images, expected 100"):
        load_labelled("ffhq-100", 64, tmp_path)
    _faces(folder, 99)
    with pytest.raises(UserError, match="found 99 images, expected 100"):
        load_labelled("ffhq-100", 64, tmp_path)
    _faces(folder, 1, start=99)
    train, _, test, _ = load_labelled("ffhq-100", 64, tmp_path)
    assert train.shape == (100, 3, 64, 64) and torch.equal(train, test)  # few-shot: scored against its own set
    (folder / "000005.jpg").write_bytes(b"not an image")
    with pytest.raises(UserError, match="000005.jpg: not a readable image"):
        load_labelled("ffhq-100", 32, tmp_path)
    _faces(folder, 1, size=(80, 60), start=5)
    with pytest.raises(UserError, match="000005.jpg: 80x60 pixels, expected a square image of at least 32x32"):
        load_labelled("ffhq-100", 32, tmp_path)


def test_lfw100_stand_in_is_the_first_100_scikit_image_faces():
    from skimage.data import lfw_subset

    train, _, test, _ = load_labelled("lfw-100", 32, None)
    assert train.shape == (100, 1, 32, 32) and torch.equal(train, test)
    first = torch.from_numpy(lfw_subset()[0]).float()
    assert torch.allclose(load_labelled("lfw-100", 28, None)[0][0, 0, 0, 0], first[0, 0] * 2 - 1, atol=0.1)


def test_memorisation_tells_copies_from_a_collapsed_model_and_from_new_images():
    g = torch.Generator().manual_seed(0)
    train = torch.rand(50, 1, 8, 8, generator=g) * 2 - 1
    copies = memorisation(train[:20] + 0.01 * torch.randn(20, 1, 8, 8, generator=g), train, 0.5)
    assert copies["copies"] == 1.0 and copies["nn_ratio"] < 0.1
    collapsed = memorisation(train.mean(0, keepdim=True).repeat(20, 1, 1, 1), train, 0.5)
    assert collapsed["copies"] == 0.0 and collapsed["diversity"] == 0.0
    fresh = memorisation(torch.rand(50, 1, 8, 8, generator=g) * 2 - 1, train, 0.5)
    assert fresh["copies"] < 0.1 and fresh["nn_ratio"] == pytest.approx(1.0, abs=0.15)
    assert fresh["diversity"] == pytest.approx(1.0, abs=0.05)
    assert torch.equal(nearest_training_images(train[[3, 7]], train), train[[3, 7]])


@pytest.mark.parametrize("method", ["ign", "naign"])
def test_rgb_faces_train_with_the_papers_recipes(tmp_path, method):
    """IGN's appendix recipe on a CelebA fixture and NAIGN's few-shot warm start, both on 3 x 64 x 64 images."""
    from conftest import small_config
    from ignbench.data import load_data
    from ignbench.evaluate.outputs import produced
    from ignbench.train.trainer import Trainer

    if method == "ign":
        names = _faces(tmp_path / "celeba" / "img_align_celeba", 12, size=(178, 218))
        (tmp_path / "celeba" / "list_eval_partition.txt").write_text("".join(f"{n} {i % 3}\n"
                                                                            for i, n in enumerate(names)))
        cfg = small_config(method="ign", dataset="celeba", image_size=64, eval_fid=True, eval_projector=True,
                           w_rec=20.0, w_idem=20.0, w_tight=2.5, tight_clamp=1.5, optimizer="adam", batch_size=4,
                           prior="fft")
        assert "fid" in produced(cfg)["f^2(z)"] and "grayscale: f(x')" in produced(cfg)
        assert "arithmetic: f(z+ - z- + z)" not in produced(cfg)  # no attribute classifier for faces
    else:
        _faces(tmp_path / "ffhq-100", 100)
        cfg = small_config(method="naign", dataset="ffhq-100", image_size=64, batch_size=10,
                           imle_m_factor=100.0, warmup_steps=2, prior="fft")
    cfg = RunConfig.from_dict(cfg.to_dict(), "test")  # validated as a spec's run is
    trainer = Trainer([cfg], [load_data(cfg, tmp_path)], torch.device("cpu"))
    losses = [trainer.step()[0]["loss"] for _ in range(3)]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert trainer.model.encoder[0].in_channels == 3
