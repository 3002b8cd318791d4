"""Training LR made once per whole image (``data.lr_per_image``, :class:`ImagePairs`): crops of the
HR and LR images together, equal to the whole image's LR under each crop."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from srlab.data.datamodule import SRDataModule, make_image_pairs
from srlab.data.datasets import HRImages, ImagePairs, RandomPatchDataset
from srlab.data.sources import FolderImages
from srlab.degradations.base import BicubicDegradation, Downscale
from srlab.degradations.blur import GaussianBlur
from srlab.degradations.noise import GaussianNoise
from srlab.degradations.pipeline import DegradationPipeline
from srlab.errors import ConfigError
from srlab.protocol.colour import to_model_space
from tests.conftest import write_images

SCALE, PATCH = 3, 24


class _Module:
    """SRModule's colour conversion for a network of ``in_channels``."""

    def __init__(self, in_channels: int) -> None:
        self.in_channels = in_channels

    def model_space_batch(self, batch: dict) -> dict:
        from srlab.training.lit_module import SRModule

        return SRModule.model_space_batch(self, batch)


def _datamodule(train_dir, in_channels: int = 1, **kwargs) -> SRDataModule:
    source = FolderImages(str(train_dir))
    defaults = dict(
        scale=SCALE,
        patch_size=PATCH,
        batch_size=8,
        patches_per_epoch=16,
        num_workers=0,
        augment=False,
        seed=3,
        batches_ahead=1,  # per-batch LR then made in on_after_batch_transfer, as on a GPU
    )
    dm = SRDataModule(source, source, **{**defaults, **kwargs})
    dm.trainer = SimpleNamespace(
        world_size=1,
        strategy=SimpleNamespace(root_device=torch.device("cpu")),
        lightning_module=_Module(in_channels),
        global_rank=0,
        training=True,
    )
    dm.setup("fit")
    return dm


def _whole_image_pairs(train_dir, in_channels: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Reference: every image's HR and its bicubic LR, made whole, in the network's colour."""
    source = FolderImages(str(train_dir))
    pairs = []
    for i in range(len(source)):
        hr = source.load(i).float().div(255)[None]
        h, w = hr.shape[-2:]
        hr = hr[..., : h - h % SCALE, : w - w % SCALE]
        lr = BicubicDegradation(SCALE)(hr)
        pairs.append((to_model_space(hr, in_channels)[0], to_model_space(lr, in_channels)[0]))
    return pairs


@pytest.mark.parametrize(("in_channels", "ahead"), [(1, 1), (3, 1), (1, 2)])
def test_each_crop_lr_is_the_whole_image_lr_under_it(tmp_path, in_channels, ahead):
    train_dir = tmp_path / "train"
    write_images(train_dir, 3, size=(60, 72), seed=4)
    dm = _datamodule(train_dir, in_channels, batches_ahead=ahead)
    batch = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    assert dm.train_set.pairs is not None
    assert dm.train_set.pairs.kind == ("float" if in_channels == 1 else "rgbx")
    hr, lr = batch["hr"], batch["lr"]
    assert hr.dtype == lr.dtype == torch.float32
    assert hr.shape == (8, in_channels, PATCH, PATCH)
    assert lr.shape == (8, in_channels, PATCH // SCALE, PATCH // SCALE)
    reference = _whole_image_pairs(train_dir, in_channels)
    for hr_crop, lr_crop in zip(hr, lr, strict=True):
        # Find the crop in the images (smooth random images: one exact match), then its LR.
        found = [
            (k, y, x)
            for k, (whole_hr, _) in enumerate(reference)
            for y in range(0, whole_hr.shape[-2] - PATCH + 1, SCALE)
            for x in range(0, whole_hr.shape[-1] - PATCH + 1, SCALE)
            if torch.equal(whole_hr[:, y : y + PATCH, x : x + PATCH], hr_crop)
        ]
        assert len(found) == 1
        k, y, x = found[0]
        s, q = SCALE, PATCH // SCALE
        torch.testing.assert_close(
            lr_crop, reference[k][1][:, y // s : y // s + q, x // s : x // s + q], rtol=0, atol=0
        )


def test_pairs_flip_hr_and_lr_together_as_the_per_crop_degradation_would(tmp_path):
    """Away from a crop's border (the bicubic kernel's reach), the LR cut from the whole image
    equals the LR of the flipped crop degraded on its own: flips commute with the resize."""
    write_images(tmp_path, 2, size=(60, 72), seed=5)
    images = HRImages(FolderImages(str(tmp_path)), "memory", None, SCALE, PATCH)
    degradation = BicubicDegradation(SCALE)
    pairs = make_image_pairs(images, degradation, None, torch.device("cpu"))
    assert pairs.kind == "rgbx"
    generator = torch.Generator().manual_seed(0)
    n = 32
    picks = torch.randint(2, (n,), generator=generator)
    tops = SCALE * torch.randint((60 - PATCH) // SCALE + 1, (n,), generator=generator)
    lefts = SCALE * torch.randint((72 - PATCH) // SCALE + 1, (n,), generator=generator)
    flips = torch.randint(2, (n, 3), generator=generator)
    hr, lr = pairs.crops(picks, tops, lefts, flips, PATCH)
    assert hr.dtype == lr.dtype == torch.uint8
    border_differs = False
    for i in range(n):
        k, y, x = int(picks[i]), int(tops[i]), int(lefts[i])
        crop = torch.from_numpy(
            np.ascontiguousarray(images.array(k)[y : y + PATCH, x : x + PATCH].transpose(2, 0, 1))
        )
        if flips[i, 0]:
            crop = crop.flip(-1)
        if flips[i, 1]:
            crop = crop.flip(-2)
        if flips[i, 2]:
            crop = crop.transpose(-2, -1)
        assert torch.equal(hr[i], crop)
        alone = degradation(crop.float().div(255)[None])[0].mul(255).round().to(torch.uint8)
        inner = (slice(None), slice(2, -2), slice(2, -2))  # 2 LR px: the x1/3 kernel's reach
        assert torch.equal(lr[i][inner], alone[inner])
        border_differs |= not torch.equal(lr[i], alone)
    # The crop degraded alone pads its own borders; the whole image's LR does not.
    assert border_differs


def test_grey_images_are_paired_as_rgb_like_their_crops(tmp_path):
    write_images(tmp_path, 2, size=(60, 72), seed=6, grey_every=2)
    images = HRImages(FolderImages(str(tmp_path)), "memory", None, SCALE, PATCH)
    pairs = make_image_pairs(images, BicubicDegradation(SCALE), None, torch.device("cpu"))
    grey, corner = torch.ones(1, dtype=torch.long), torch.zeros(1, dtype=torch.long)
    hr, lr = pairs.crops(grey, corner, corner, torch.zeros(1, 3, dtype=torch.long), PATCH)
    assert hr.shape == (1, 3, PATCH, PATCH) and torch.equal(hr[0, 0], hr[0, 2])
    assert torch.equal(hr[0, 1], torch.from_numpy(images.array(1)[:PATCH, :PATCH, 0].copy()))
    assert lr.shape == (1, 3, PATCH // SCALE, PATCH // SCALE) and torch.equal(lr[0, 0], lr[0, 1])


def test_an_rgb_network_with_unquantised_lr_keeps_lr_per_batch(tmp_path):
    write_images(tmp_path, 2, size=(60, 72), seed=7)
    images = HRImages(FolderImages(str(tmp_path)), "memory", None, SCALE, PATCH)
    unquantised = BicubicDegradation(SCALE, quantize=False)
    assert make_image_pairs(images, unquantised, None, torch.device("cpu")) is None
    dm = _datamodule(tmp_path, 3, degradation=unquantised)
    assert dm.make_image_pairs() is None
    assert "lr" not in next(iter(dm.train_dataloader()))


def test_auto_makes_lr_per_image_only_where_it_can(tmp_path):
    write_images(tmp_path, 2, size=(60, 72), seed=8)
    assert _datamodule(tmp_path).make_image_pairs() is not None
    noisy = DegradationPipeline(SCALE, {"down": Downscale(SCALE), "noise": GaussianNoise()})
    per_batch = [
        _datamodule(tmp_path, degradation=noisy),  # random: another LR every epoch
        _datamodule(tmp_path, lr_per_image=False),
        _datamodule(tmp_path, patch_sampling="grid", grid_stride=12),
        _datamodule(tmp_path, in_memory=False, cache=False),
    ]
    for dm in per_batch:
        assert dm.make_image_pairs() is None
        assert "lr" not in next(iter(dm.train_dataloader()))  # the HR crops alone, as before


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        (dict(patch_sampling="grid", grid_stride=12), "grid sub-images"),
        (dict(in_memory=False, cache=False), "not held in memory"),
    ],
)
def test_lr_per_image_true_says_why_it_cannot(tmp_path, kwargs, reason):
    write_images(tmp_path, 2, size=(60, 72), seed=9)
    dm = _datamodule(tmp_path, lr_per_image=True, **kwargs)
    with pytest.raises(ConfigError, match=reason):
        dm.train_dataloader()


def test_lr_per_image_rejects_other_values(tmp_path):
    with pytest.raises(ValueError, match="lr_per_image"):
        SRDataModule(None, None, lr_per_image="yes")


def test_only_draw_free_degradations_are_deterministic():
    assert BicubicDegradation(3).deterministic
    assert DegradationPipeline(3, {"down": Downscale(3)}).deterministic
    noisy = {"down": Downscale(3), "noise": GaussianNoise()}
    assert not DegradationPipeline(3, noisy).deterministic
    # Blur-then-downscale ("BD"): deterministic with one fixed isotropic sigma only.
    for blur, expected in [
        (GaussianBlur(sigma_range=1.6), True),
        (GaussianBlur(sigma_range=(0.2, 2.0)), False),
        (GaussianBlur(sigma_range=1.6, anisotropic_prob=0.5), False),
        (GaussianBlur(sigma_range=1.6, p=0.5), False),
    ]:
        pipeline = DegradationPipeline(3, {"blur": blur, "down": Downscale(3)})
        assert pipeline.deterministic is expected, blur


def test_image_pairs_check_their_sizes():
    hr = [np.zeros((6, 9), np.uint32)]
    with pytest.raises(ValueError, match="not HR"):
        ImagePairs(hr, [np.zeros((2, 2), np.uint32)], "float", 3)
    with pytest.raises(ValueError, match="kind"):
        ImagePairs(hr, [np.zeros((2, 3), np.uint32)], "rgb", 3)


def test_random_patch_items_carry_their_lr_one_by_one_too(tmp_path):
    """``dataset[i]`` (a plain DataLoader's fetch) gives the same kind of item as a batch."""
    write_images(tmp_path, 2, size=(60, 72), seed=10)
    dm = _datamodule(tmp_path)
    dm.make_image_pairs()
    assert isinstance(dm.train_set, RandomPatchDataset)
    item = dm.train_set[0]
    assert item["hr"].shape == (1, PATCH, PATCH) and item["lr"].shape == (1, 8, 8)


def test_crops_ahead_cut_several_batches_in_one_call(tmp_path, monkeypatch):
    from srlab.data.datamodule import CropsAhead

    write_images(tmp_path, 2, size=(60, 72), seed=11)
    dm = _datamodule(tmp_path, batches_ahead=3, patches_per_epoch=40)  # 5 batches of 8
    loader = dm.train_dataloader()
    assert isinstance(loader, CropsAhead) and len(loader) == 5
    calls = []
    cut = type(dm.train_set).__getitems__
    monkeypatch.setattr(
        type(dm.train_set),
        "__getitems__",
        lambda self, items: calls.append(len(items)) or cut(self, items),
    )
    for _ in range(2):  # two epochs: chunks of 3 and 2 batches, never across an epoch's end
        batches = list(loader)
        assert [b["hr"].shape for b in batches] == [(8, 1, PATCH, PATCH)] * 5
        assert [b["lr"].shape for b in batches] == [(8, 1, PATCH // SCALE, PATCH // SCALE)] * 5
    assert calls == [24, 16, 24, 16]
