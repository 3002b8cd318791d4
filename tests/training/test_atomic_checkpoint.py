"""Atomic checkpoints: a kill or an error during a write never leaves a truncated checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from srlab.training.callbacks.checkpoint import WRITE_DELAY_ENV, atomic_torch_save, temp_files_for
from tests.conftest import REPO_ROOT, fast_overrides


def test_sigkill_during_a_checkpoint_write_leaves_the_previous_last_ckpt_loadable(
    tmp_path, image_dirs
):
    run = tmp_path / "run"
    args = fast_overrides(*image_dirs, steps=200) + [
        f"hydra.run.dir={run}",
        "callbacks.periodic_checkpoint.every_n_train_steps=2",
        "data.patches_per_epoch=400",  # no validation (and no best.ckpt) in the way
    ]
    # Test-only hook: sleep after every chunk torch.save writes, so each save takes about 2 s.
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), WRITE_DELAY_ENV: "0.02"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "srlab.train", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    last = run / "checkpoints" / "last.ckpt"

    def writing_next_checkpoint() -> bool:
        return last.is_file() and any(p.stat().st_size > 0 for p in temp_files_for(last))

    try:
        deadline = time.monotonic() + 240
        while not writing_next_checkpoint():
            if proc.poll() is not None:
                pytest.fail(
                    f"training exited early ({proc.returncode}):\n{proc.stdout.read()[-3000:]}"
                )
            assert time.monotonic() < deadline, "no second checkpoint write started"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()

    # The write was really cut short: its temp file is truncated and does not load ...
    partial = temp_files_for(last)
    assert len(partial) == 1 and partial[0].stat().st_size > 0
    with pytest.raises(Exception):  # noqa: B017 - any decoding error; the point is that it fails
        torch.load(partial[0], map_location="cpu", weights_only=True)
    # ... while last.ckpt is the complete previous checkpoint.
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    assert ckpt["global_step"] >= 2 and ckpt["global_step"] % 2 == 0
    assert any(k.startswith("net.") for k in ckpt["state_dict"])


class _Unpicklable:
    def __reduce__(self):
        raise RuntimeError("serialisation failed half-way")


def test_failed_write_keeps_the_old_file_and_removes_its_temp_file(tmp_path):
    path = tmp_path / "ckpts" / "last.ckpt"
    atomic_torch_save({"global_step": 1, "w": torch.ones(3)}, path)
    with pytest.raises(RuntimeError, match="half-way"):
        atomic_torch_save({"global_step": 2, "w": torch.zeros(1000), "bad": _Unpicklable()}, path)
    assert torch.load(path, weights_only=True)["global_step"] == 1
    assert temp_files_for(path) == []


def test_stale_temp_files_from_a_killed_writer_are_cleaned_on_the_next_save(tmp_path):
    path = tmp_path / "last.ckpt"
    stale = tmp_path / ".last.ckpt.abc123.tmp"
    stale.write_bytes(b"PK\x03\x04 truncated")
    other = tmp_path / ".best.ckpt.abc123.tmp"
    other.write_bytes(b"x")
    atomic_torch_save({"global_step": 3}, path)
    assert not stale.exists() and other.exists()  # only the same target's leftovers
    assert torch.load(path, weights_only=True) == {"global_step": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".best.ckpt.abc123.tmp", "last.ckpt"]


def test_train_uses_the_atomic_checkpoint_io(tmp_path, image_dirs, monkeypatch):
    from srlab.train import train
    from srlab.training.callbacks.checkpoint import AtomicCheckpointIO
    from tests.conftest import compose_train

    seen = []
    original = AtomicCheckpointIO.save_checkpoint

    def spy(self, checkpoint, path, storage_options=None):
        seen.append(os.path.basename(path))
        return original(self, checkpoint, path, storage_options)

    monkeypatch.setattr(AtomicCheckpointIO, "save_checkpoint", spy)
    train(compose_train(fast_overrides(*image_dirs, steps=2), output_dir=tmp_path / "run"))
    assert {"best.ckpt", "last.ckpt"} <= set(seen)


def test_item12_checkpoints_get_the_usual_file_permissions(tmp_path):
    """Item 12: checkpoints are written through a temporary file (mkstemp: 0600), then given the
    mode every other output gets (0644 under the usual umask 022)."""
    from srlab.utils.files import default_file_mode

    old = os.umask(0o022)
    try:
        path = tmp_path / "checkpoints" / "last.ckpt"
        atomic_torch_save({"w": torch.zeros(2)}, path)
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        assert default_file_mode() == 0o644
        assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)
