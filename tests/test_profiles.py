"""Cluster profiles and what they put into the sbatch script (no cluster needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ignbench.core.errors import UserError
from ignbench.launch.profile import load_profile
from ignbench.launch.slurm import make_executor


def test_example_gpu_profile_reaches_sbatch(tmp_path):
    executor = make_executor(load_profile("example-gpu"), tmp_path)
    script = executor._executor._make_submission_file_text("python -m job", "1")
    for line in ("#SBATCH --gpus-per-node=1", "#SBATCH --partition=gpu", "#SBATCH --account=my-project",
                 "#SBATCH --qos=normal", "#SBATCH --cpus-per-task=8", "#SBATCH --mem=32GB", "#SBATCH --time=720",
                 "#SBATCH --signal=USR2@90", "module load cuda/12.4"):
        assert line in script


def test_local_profile_has_no_gpu_request(tmp_path):
    profile = load_profile("local")
    assert profile.partition == "debug" and profile.gpus_per_node == 0
    script = make_executor(profile, tmp_path)._executor._make_submission_file_text("python -m job", "1")
    assert "gpus" not in script


@pytest.mark.parametrize("text,message", [
    ("partition = 'x'\nbogus = 1\n", "unknown key 'bogus'"),
    ("partition = 'x'\ncpus_per_task = 'many'\n", "cpus_per_task must be int"),
    ("partition = 'x'\ntimeout_min = 0\n", "timeout_min must be positive"),
    ("partition = 'x'\nsetup = [1]\n", "setup must be a list of shell lines"),
    ("account = 'x'\n", "missing required key 'partition'"),
    ("partition = \n", "not valid TOML"),
])
def test_bad_profiles(tmp_path, text, message):
    path = Path(tmp_path, "p.toml")
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        load_profile(str(path))
