"""SRDataModule's batches made ahead (BatchesAhead): the same batches as one by one, fewer passes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch.utils.data import DataLoader

from tests.conftest import compose_train


def _datamodule(image_dirs, tmp_path, *overrides: str):
    from hydra.utils import instantiate

    cfg = compose_train(
        [
            "data=folder",
            f"data.train_dir={image_dirs[0]}",
            f"data.val_dir={image_dirs[1]}",
            "data.batch_size=3",
            "data.patch_size=24",
            "data.patches_per_epoch=15",  # 5 batches an epoch
            "data.num_workers=0",
            # Batches made ahead are the per-batch LR path (LR made per image has none).
            "data.lr_per_image=false",
            *overrides,
        ],
        output_dir=tmp_path / "run",
    )
    dm = instantiate(cfg.data, degradation=instantiate(cfg.degradation))
    dm.setup("fit")
    return dm


class _Module:
    """What BatchesAhead asks of the LightningModule: SRModule's colour conversion (Y network)."""

    in_channels = 1

    def model_space_batch(self, batch: dict) -> dict:
        from srlab.training.lit_module import SRModule

        return SRModule.model_space_batch(self, batch)


def _trainer(world_size: int = 1, device: str = "cpu"):
    return SimpleNamespace(
        world_size=world_size,
        strategy=SimpleNamespace(root_device=torch.device(device)),
        lightning_module=_Module(),
        global_rank=0,
        training=True,
    )


def test_batches_made_ahead_equal_the_batches_made_one_by_one(tmp_path, image_dirs):
    from srlab.data.datamodule import BatchesAhead

    ahead, one_by_one = (_datamodule(image_dirs, tmp_path) for _ in range(2))
    for dm in (ahead, one_by_one):
        dm.trainer = _trainer()
    ahead.batches_ahead = 2  # 5 batches: chunks of 2, 2 and 1 (never across the epoch's end)
    loader = ahead.train_dataloader()
    assert isinstance(loader, BatchesAhead) and len(loader) == 5
    one_by_one.batches_ahead = 1
    plain = one_by_one.train_dataloader()
    assert isinstance(plain, DataLoader)
    made = list(loader)
    expected = [
        _Module().model_space_batch(one_by_one.on_after_batch_transfer(b, 0)) for b in plain
    ]
    assert len(made) == len(expected) == 5
    for got, want in zip(made, expected, strict=True):
        assert got["hr"].shape == (3, 1, 24, 24) and got["lr"].shape == (3, 1, 8, 8)
        # Same crops, bit-identical bicubic LR and Y conversion, whatever the chunking.
        assert torch.equal(got["hr"], want["hr"]) and torch.equal(got["lr"], want["lr"])
        # Lightning's transfer hook then leaves a made batch as it is.
        assert one_by_one.on_after_batch_transfer(got, 0) is got


def test_batches_ahead_auto_only_on_a_cpu_without_workers_in_one_process(tmp_path, image_dirs):
    from srlab.data.datamodule import BatchesAhead

    dm = _datamodule(image_dirs, tmp_path)
    assert dm.batches_ahead == "auto"
    assert isinstance(dm.train_dataloader(), DataLoader)  # outside a fit: the plain loader
    dm.trainer = _trainer()
    loader = dm.train_dataloader()
    assert isinstance(loader, BatchesAhead) and loader.count == 16  # 3 x 24 x 24 px batches
    dm.patch_size, dm.batch_size = 48, 64  # SRCNN's defaults: ~2M px = 13 batches
    assert dm._batches_ahead() == 13
    dm.trainer = _trainer(device="cuda")
    assert dm._batches_ahead() == 1  # a GPU makes LR on the device per batch
    dm.trainer, dm.num_workers = _trainer(), 2
    assert dm._batches_ahead() == 1  # workers already take the crops off the step
    dm.batches_ahead = 4
    assert dm._batches_ahead() == 4  # an explicit count holds
    dm.trainer = _trainer(world_size=2)
    assert dm._batches_ahead() == 1  # DDP needs Lightning's sampler on a plain DataLoader


@pytest.mark.parametrize("value", [0, -1, "two", 1.5])
def test_batches_ahead_rejects_what_is_not_auto_or_a_count(tmp_path, image_dirs, value):
    from hydra.errors import InstantiationException

    with pytest.raises(InstantiationException, match="batches_ahead must be auto or >= 1"):
        _datamodule(image_dirs, tmp_path, f"data.batches_ahead={value}")
