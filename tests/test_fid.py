"""FID through torch-fidelity's InceptionV3: our feature path and Fréchet function against torch-fidelity's own
FID, and the one-line errors when the Inception weights cannot be had.

The real weights cannot be downloaded here, so the end-to-end check uses a checkpoint with InceptionV3's exact
layout and random weights, read through the same `feature_extractor_weights_path` route real weights take.
"""

from __future__ import annotations

import pytest
import torch
import torch_fidelity
from torch_fidelity import feature_extractor_inceptionv3 as tf_inception

from ignbench.cli import main
from ignbench.data.images import load_images
from ignbench.evaluate.metrics import fid
from ignbench.evaluate.metrics.fld import Uint8Images


@pytest.fixture(scope="module")
def random_inception(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:  # build the network without fetching or loading weights
        mp.setattr(tf_inception, "load_state_dict_from_url", lambda *args, **kwargs: None)
        mp.setattr(tf_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        torch.manual_seed(0)
        model = tf_inception.FeatureExtractorInceptionV3(fid.EXTRACTOR_NAME, ["64"])
    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    torch.save(torch.nn.Module.state_dict(model), path)
    return path


def test_fid_matches_torch_fidelity_end_to_end(random_inception, monkeypatch):
    monkeypatch.setenv(fid.WEIGHTS_ENV, str(random_inception))
    _, test = load_images("mnist-5k", 32, None)
    real = test[:120]
    fake = (real.roll(3, dims=3) * 0.8 + 0.1 * torch.randn(real.shape, generator=torch.Generator().manual_seed(1)))
    ours = fid.fid(fake.clamp(-1, 1), real, feature="64")  # the 64-d layer keeps 120 samples well-conditioned
    ref = torch_fidelity.calculate_metrics(
        input1=Uint8Images(fake.clamp(-1, 1), channels=3), input2=Uint8Images(real, channels=3), fid=True,
        feature_layer_fid="64", feature_extractor_weights_path=str(random_inception), cuda=False, cache=False,
        verbose=False)["frechet_inception_distance"]
    assert ours > 0 and ours == pytest.approx(ref, rel=1e-6)
    assert fid.fid(real, real, feature="64") == pytest.approx(0, abs=1e-6)


FID_SPEC = """
[experiment]
name = "withfid"
title = "with FID"
report = "generation"

[sweep]
method = ["ign"]

[config]
dataset = "mnist-5k"
batch_size = 8
steps = 2
model_width = 8
latent_dim = 16
eval_n_samples = 16
eval_n_real = 16
eval_fid = true

[presets.paper]
"""


@pytest.mark.parametrize("how", ["offline", "missing file", "not inception"])
def test_fid_without_weights_is_a_one_line_error_and_nothing_is_written(runner, tmp_path, monkeypatch, how):
    spec = tmp_path / "withfid.toml"
    spec.write_text(FID_SPEC)
    store = tmp_path / "runs"
    monkeypatch.setenv("IGNBENCH_OFFLINE", "1")
    monkeypatch.delenv(fid.WEIGHTS_ENV, raising=False)
    args = ["run", str(spec), "--store", str(store)]
    if how == "missing file":
        args += ["--inception-weights", str(tmp_path / "nope.pth")]
    if how == "not inception":
        (tmp_path / "other.pth").write_bytes(b"not a checkpoint")
        args += ["--inception-weights", str(tmp_path / "other.pth")]
    res = runner.invoke(main, args)
    assert res.exit_code == 2 and res.output.count("\n") == 1, res.output
    assert "--inception-weights" in res.output and "weights-inception-2015-12-05" in res.output
    assert not store.exists()


def test_runs_with_eval_fid_record_fid(runner, tmp_path, monkeypatch, random_inception):
    """The evaluation path: eval.json gains `fid` for f(z) and f(f(z)) (at the 64-d layer, for speed here)."""
    import functools

    import ignbench.evaluate.run

    monkeypatch.setattr(ignbench.evaluate.run, "inception_features",
                        functools.partial(fid.inception_features, feature="64"))
    monkeypatch.delenv(fid.WEIGHTS_ENV, raising=False)  # restored (unset) after the CLI sets it
    spec = tmp_path / "withfid.toml"
    spec.write_text(FID_SPEC)
    store = tmp_path / "runs"
    res = runner.invoke(main, ["run", str(spec), "--store", str(store), "--inception-weights", str(random_inception)])
    assert res.exit_code == 0, res.output
    from ignbench import load_results

    df = load_results(str(spec), root=store)
    values = df[df.metric == "fid"].set_index("application")["value"]
    assert set(values.index) == {"f(z)", "f(f(z))"} and (values > 0).all()
