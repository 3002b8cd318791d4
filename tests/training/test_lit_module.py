"""SRModule's validation: the baseline follows the images scored; scores do not depend on the
trainer's precision or device."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import compose_train, fast_overrides, write_images


def _validate(module, datamodule, ckpt_path=None, device="cpu", **trainer_kw) -> dict:
    import lightning as L

    trainer = L.Trainer(
        accelerator=torch.device(device).type,
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **trainer_kw,
    )
    (metrics,) = trainer.validate(module, datamodule=datamodule, ckpt_path=ckpt_path, verbose=False)
    return metrics


def _parts(tmp_path, val_dir, overrides=()):
    from hydra.utils import instantiate

    cfg = compose_train(
        [*fast_overrides(tmp_path / "train", val_dir), "model=srcnn_915", *overrides],
        output_dir=tmp_path / "run",
    )
    datamodule = instantiate(cfg.data, degradation=instantiate(cfg.degradation))
    torch.manual_seed(0)
    return instantiate(cfg.model), datamodule


def _bicubic_by_hand(datamodule) -> float:
    """Mean bicubic PSNR of the validation images: the Y channel's bicubic, as the model sees."""
    from srlab.models.bicubic import Bicubic
    from srlab.protocol.scoring import score_batch

    datamodule.setup("validate")
    values = []
    for i in range(len(datamodule.val_set)):
        item = datamodule.val_set[i]
        batch = datamodule.degrade({"hr": item["hr"][None], "index": torch.tensor([i])}, False)
        values.append(float(score_batch(Bicubic(3, 1), batch["lr"], batch["hr"], False).psnr[0]))
    return sum(values) / len(values)


def test_item02_bicubic_baseline_follows_the_validation_images(tmp_path):
    """Item 2: val/psnr_bicubic is scored on every validation on exactly the images the model
    was scored on: a limited first validation, or weights validated on another set (a resumed or
    fine-tuned run), never report the baseline of other images."""
    write_images(tmp_path / "train", 2, size=(48, 48), seed=1)
    write_images(tmp_path / "val_a", 3, size=(45, 51), seed=2)
    write_images(tmp_path / "val_b", 2, size=(39, 42), seed=3)
    module, set_a = _parts(tmp_path, tmp_path / "val_a")
    _, set_b = _parts(tmp_path, tmp_path / "val_b")
    whole_a, whole_b = _bicubic_by_hand(set_a), _bicubic_by_hand(set_b)
    assert abs(whole_a - whole_b) > 0.1  # the sets differ: the check has teeth

    first = _validate(module, set_a, limit_val_batches=1)  # a limited first validation
    assert first["val/psnr_bicubic"] != pytest.approx(whole_a, abs=1e-3)
    assert _validate(module, set_a)["val/psnr_bicubic"] == pytest.approx(whole_a, abs=1e-4)
    assert _validate(module, set_b)["val/psnr_bicubic"] == pytest.approx(whole_b, abs=1e-4)

    # Weights from a checkpoint validated on another set: that set's baseline.
    ckpt = tmp_path / "a.ckpt"
    import lightning as L

    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    trainer.strategy.connect(module)
    trainer.save_checkpoint(ckpt)
    fresh, _ = _parts(tmp_path, tmp_path / "val_b")
    metrics = _validate(fresh, set_b, ckpt_path=ckpt)
    assert metrics["val/psnr_bicubic"] == pytest.approx(whole_b, abs=1e-4)


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_validation_psnr_of_fixed_weights_does_not_depend_on_the_trainer_precision(
    tmp_path, device, precision
):
    """The same weights validate to the same PSNR (within 1e-3 dB) under a mixed-precision trainer
    as under 32-true: scoring runs in full float32 (item 3), on CPU and on CUDA."""
    if precision == "16-mixed" and device.type == "cpu":
        pytest.skip("16-mixed is a CUDA precision")
    write_images(tmp_path / "train", 2, size=(48, 48), seed=1)
    write_images(tmp_path / "val", 3, size=(45, 51), seed=2, grey_every=3)
    module, datamodule = _parts(tmp_path, tmp_path / "val")
    reference = _validate(module, datamodule, device=device, precision="32-true")
    mixed = _validate(module, datamodule, device=device, precision=precision)
    for key in ("val/psnr", "val/psnr_bicubic"):
        assert mixed[key] == pytest.approx(reference[key], abs=1e-3), key
    assert mixed["val/ssim"] == pytest.approx(reference["val/ssim"], abs=1e-5)
    if device.type == "cuda":  # and CPU and CUDA agree on the same weights
        on_cpu = _validate(module, datamodule, device="cpu", precision="32-true")
        assert on_cpu["val/psnr"] == pytest.approx(reference["val/psnr"], abs=1e-3)


def test_progress_bar_updates_every_n_steps_and_the_loss_is_logged_on_those_steps(
    tmp_path, monkeypatch
):
    """srlab's bar touches its task and metrics every `every_n_steps` steps (the stock rich bar
    does on every step, and redraws from a thread: ~2% of a CPU step); SRModule logs train/loss
    on exactly the steps a reader (the bar, or the logger every log_every_n_steps) looks."""
    import lightning as L
    from lightning.pytorch.callbacks import RichProgressBar

    from srlab.training.callbacks.progress import StepProgressBar
    from srlab.training.lit_module import SRModule

    write_images(tmp_path / "train", 2, size=(48, 48), seed=1)
    write_images(tmp_path / "val", 1, size=(30, 30), seed=2)
    module, datamodule = _parts(tmp_path, tmp_path / "val", ["data.patches_per_epoch=200"])
    bar_steps, logged_steps = [], []
    stock_update = RichProgressBar.on_train_batch_end

    def spy_update(self, trainer, *args):
        bar_steps.append(trainer.global_step)
        return stock_update(self, trainer, *args)

    stock_log = SRModule.log

    def spy_log(self, name, *args, **kwargs):
        if name == "train/loss":
            logged_steps.append(self.global_step + 1)
        return stock_log(self, name, *args, **kwargs)

    monkeypatch.setattr(RichProgressBar, "on_train_batch_end", spy_update)
    monkeypatch.setattr(SRModule, "log", spy_log)
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=12,
        logger=False,
        log_every_n_steps=50,
        limit_val_batches=0,
        enable_checkpointing=False,
        enable_model_summary=False,
        callbacks=[StepProgressBar(every_n_steps=5)],
    )
    trainer.fit(module, datamodule=datamodule)
    assert bar_steps == [5, 10, 12]  # and the last step
    assert logged_steps == [1, 5, 10]
    with pytest.raises(ValueError, match="every_n_steps"):
        StepProgressBar(every_n_steps=0)
