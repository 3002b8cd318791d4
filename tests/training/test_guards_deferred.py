"""The guard's sync-free path (GPU default, forced here on the CPU): verdicts accumulate on the
device and are read every N steps and before every checkpoint, so the message still names the
first bad step and no checkpoint holds weights trained on a non-finite loss."""

from __future__ import annotations

import pytest
import torch

from tests.training.test_guards import _cfg


def test_deferred_check_names_the_first_bad_step_and_a_clean_checkpoint(tmp_path, image_dirs):
    from srlab.train import train
    from srlab.training.callbacks.guards import NonFiniteLossError

    out = tmp_path / "run"
    cfg = _cfg(image_dirs, out, [3], "callbacks.nonfinite_guard.check_every_n_steps=50")
    with pytest.raises(NonFiniteLossError) as info:
        train(cfg)
    message = str(info.value)
    assert message.startswith("train/loss is nan at global step 3 (epoch 0); training stopped")
    last = out / "checkpoints" / "last.ckpt"
    assert f"last good checkpoint: {last}" in message
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 2  # the step-4 checkpoint was refused, not written
    assert all(
        torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point()
    )


def test_deferred_check_reads_the_loss_only_every_n_steps(monkeypatch):
    from srlab.training.callbacks.guards import NonFiniteLossGuard

    class FakeTrainer:
        global_step, current_epoch, checkpoint_callbacks = 0, 0, []

    guard, trainer = NonFiniteLossGuard(check_every_n_steps=4), FakeTrainer()
    reads = []
    original = guard.check
    monkeypatch.setattr(guard, "check", lambda t: (reads.append(t.global_step), original(t)))
    losses = [1.0, float("inf"), float("nan"), 2.0]
    with pytest.raises(Exception, match=r"train/loss is inf at global step 1 \(epoch 0\)"):
        for value in losses:
            guard.on_before_backward(trainer, None, torch.tensor(value))
            trainer.global_step += 1
            guard.on_train_batch_end(trainer, None, None, None, 0)
    assert reads == [4]  # one read after 4 steps, none per step
