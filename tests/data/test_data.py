"""Datasets, sources, the decoded-image cache and the data configs (DIV2K, T91, folder)."""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srlab.data.cache import DecodedImageCache, MemmapImages
from srlab.data.datasets import GridPatchDataset, HRImages, RandomPatchDataset, WholeImageDataset
from srlab.data.sources import DIV2K, T91, BenchmarkSet, FolderImages
from srlab.errors import ConfigError, DatasetNotFoundError, ImageReadError
from tests.conftest import compose_train, smooth_image, write_images


def _fake_div2k(root: Path, n_train: int = 4, n_valid: int = 2, size=(50, 62)) -> None:
    rng = np.random.default_rng(3)
    for split, first, n in (("train", 1, n_train), ("valid", 801, n_valid)):
        folder = root / "DIV2K" / f"DIV2K_{split}_HR"
        folder.mkdir(parents=True)
        for i in range(first, first + n):
            Image.fromarray(smooth_image(rng, *size)).save(folder / f"{i:04d}.png")


def test_train_a_few_steps_on_a_fake_div2k_tree(tmp_path):
    from srlab.train import train

    data = tmp_path / "data"
    _fake_div2k(data)
    cfg = compose_train(
        [
            "data=div2k",
            f"paths.data_dir={data}",
            "data.batch_size=4",
            "data.patches_per_epoch=100000",
            "data.num_workers=0",
            "data.patch_size=24",
            "trainer=cpu",
            "trainer.max_steps=3",
            "trainer.enable_model_summary=false",
            "logger=none",
            "~callbacks.progress_bar",
        ],
        output_dir=tmp_path / "run",
    )
    metrics = train(cfg)
    # The run stops mid-way through its 100000-patch epoch and is still validated: the logged
    # PSNR is that of the final weights on the two DIV2K validation images.
    from srlab.checkpoints import load_model
    from srlab.protocol.scoring import evaluate_source

    net = load_model(tmp_path / "run" / "checkpoints" / "last.ckpt").net
    valid = FolderImages(data / "DIV2K" / "DIV2K_valid_HR")
    assert evaluate_source(net, valid, 3).images == 2
    assert metrics["val/psnr"] == pytest.approx(evaluate_source(net, valid, 3).psnr, abs=1e-4)
    # The 2K path: every train and valid image was decoded once into the cache.
    cached = sorted(p.name.split("-")[0] for p in (data / ".srlab_cache").glob("*.npy"))
    assert cached == ["0001", "0002", "0003", "0004", "0801", "0802"]


def test_div2k_finds_both_layouts_and_explains_a_missing_tree(tmp_path):
    write_images(tmp_path / "DIV2K_valid_HR", 2, size=(20, 20))
    assert len(DIV2K(tmp_path, "valid")) == 2  # <root>/DIV2K_valid_HR also works
    with pytest.raises(
        DatasetNotFoundError, match=r"DIV2K not found.*DIV2K_train_HR(.|\n)*data.download=true"
    ):
        DIV2K(tmp_path, "train")
    with pytest.raises(ValueError):
        DIV2K(tmp_path, "test")


def test_benchmark_sets_by_folder_name_and_layout(tmp_path):
    write_images(tmp_path / "B100" / "HR", 2, size=(20, 20))
    write_images(tmp_path / "benchmark" / "Urban100" / "HR", 3, size=(20, 20))
    write_images(tmp_path / "set14", 1, size=(20, 20))
    assert len(BenchmarkSet(tmp_path, "BSD100")) == 2
    assert BenchmarkSet(tmp_path, "B100").set_name == "BSD100"
    assert len(BenchmarkSet(tmp_path, "Urban100")) == 3  # EDSR's benchmark/ bundle layout
    assert len(BenchmarkSet(tmp_path, "Set14")) == 1
    with pytest.raises(DatasetNotFoundError, match="Manga109"):
        BenchmarkSet(tmp_path, "Manga109", download=True)  # no public archive: still a clear error


def test_folder_ignores_hidden_entries_and_reads_any_format(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / ".srlab_cache").mkdir()
    Image.fromarray(smooth_image(rng, 20, 20)).save(tmp_path / ".srlab_cache" / "x.png")
    Image.fromarray(smooth_image(rng, 20, 20)).save(tmp_path / "a.jpg")
    Image.fromarray(smooth_image(rng, 20, 20)).save(tmp_path / "b.bmp")
    Image.fromarray(smooth_image(rng, 20, 20)).save(tmp_path / "c.tif")
    (tmp_path / "notes.txt").write_text("not an image")
    src = FolderImages(tmp_path)
    assert [src.name(i) for i in range(len(src))] == ["a", "b", "c"]


# ---------------------------------------------------------------------------------- the cache
def test_cache_decodes_once_and_rebuilds_changed_files(tmp_path, monkeypatch):
    paths = write_images(tmp_path / "img", 3, size=(30, 40), seed=4, grey_every=3)
    cache = DecodedImageCache(tmp_path / "cache", progress=False)
    entries = cache.build(paths)
    assert [np.load(e).shape for e in entries] == [(30, 40, 3), (30, 40, 3), (30, 40, 1)]
    np.testing.assert_array_equal(np.load(entries[0]), np.asarray(Image.open(paths[0])))

    # Warm: nothing is decoded again.
    import srlab.data.cache as cache_module

    def no_decode(path):
        raise AssertionError(f"decoded {path} again")

    monkeypatch.setattr(cache_module, "read_image_array", no_decode)
    assert cache.build(paths) == entries
    monkeypatch.undo()

    # A changed source file gets a new entry; the stale one is deleted.
    write_images(tmp_path / "other", 1, size=(32, 36), seed=9)[0].replace(paths[1])
    os.utime(paths[1], ns=(1, 1_000_000_000))
    new_entries = cache.build(paths)
    assert new_entries[0] == entries[0] and new_entries[1] != entries[1]
    assert not entries[1].exists() and np.load(new_entries[1]).shape == (32, 36, 3)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 3


def test_memmap_images_pickle_by_file_name(tmp_path):
    paths = write_images(tmp_path / "img", 2, size=(30, 40))
    entries = DecodedImageCache(tmp_path / "cache", progress=False).build(paths)
    images = MemmapImages(entries)
    first = np.array(images[0])
    clone = pickle.loads(pickle.dumps(images))
    assert len(pickle.dumps(images)) < 1000  # names, not pixels
    np.testing.assert_array_equal(clone[0], first)
    assert not clone[0].flags.writeable


@pytest.mark.parametrize("storage", ["memory", "cache", "decode"])
def test_storages_give_identical_crops(tmp_path, storage):
    paths = write_images(tmp_path / "img", 3, size=(40, 52), seed=2, grey_every=3)
    src = FolderImages(tmp_path / "img")
    cache = DecodedImageCache(tmp_path / "cache", progress=False)
    ref = RandomPatchDataset(src, 2, 16, 12, in_memory=True)
    ds = RandomPatchDataset(
        src, 2, 16, 12, in_memory=storage == "memory", cache=cache if storage == "cache" else None
    )
    assert ds.images.storage == storage
    torch.manual_seed(0)
    a = torch.stack([ref[i]["hr"] for i in range(12)])
    torch.manual_seed(0)
    b = torch.stack([ds[i]["hr"] for i in range(12)])
    assert a.shape == (12, 3, 16, 16) and a.dtype == torch.uint8
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert len(paths) == 3


@pytest.mark.parametrize("storage", ["memory", "cache"])
def test_batched_crops_equal_item_crops_for_the_same_draws(tmp_path, storage):
    # __getitems__ crops the whole batch at once (RGBX words in memory, per crop from the cache);
    # every crop, flip and transpose must be exactly what crop_chw makes of the same draws.
    from srlab.data.datasets import crop_chw, patch_seed

    write_images(tmp_path / "img", 5, size=(37, 50), seed=4, grey_every=2)
    cache = DecodedImageCache(tmp_path / "cache", progress=False)
    for by_area in (False, True):
        ds = RandomPatchDataset(
            FolderImages(tmp_path / "img"),
            3,
            12,
            64,
            in_memory=storage == "memory",
            cache=cache if storage == "cache" else None,
            sample_by_area=by_area,
            seed=7,
        )
        batch = ds.__getitems__(list(range(64)))
        g = torch.Generator().manual_seed(patch_seed(7, 0))
        if by_area:
            picks = torch.multinomial(ds.image_weights, 64, replacement=True, generator=g)
        else:
            picks = torch.randint(len(ds.images), (64,), generator=g)
        corners = torch.rand(64, 2, dtype=torch.float64, generator=g)
        flips = torch.randint(2, (64, 3), generator=g)
        expected = []
        for k, (u, v), f in zip(picks.tolist(), corners.tolist(), flips.tolist(), strict=True):
            image = ds.images.array(k)
            h, w = image.shape[:2]
            y = 3 * int(u * ((h - h % 3 - 12) // 3 + 1))
            x = 3 * int(v * ((w - w % 3 - 12) // 3 + 1))
            expected.append(crop_chw(image, y, x, 12, f))
        assert {tuple(f) for f in flips.tolist()} == {
            (a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)
        }
        assert torch.equal(batch.hr, torch.stack(expected))
        assert batch.hr.is_contiguous() and len(batch) == 64


def test_patch_batches_collate_in_srlab_and_in_plain_dataloaders(tmp_path):
    from srlab.data.datasets import collate_patches

    write_images(tmp_path / "img", 2, size=(40, 40), grey_every=2)
    ds = RandomPatchDataset(FolderImages(tmp_path / "img"), 2, 16, 8, seed=1)
    srlab_batches = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=collate_patches)
    plain_batches = torch.utils.data.DataLoader(ds, batch_size=4)  # PyTorch's default_collate
    ds._patch_generator = None  # both start from the seeded generator
    a = [b["hr"] for b in srlab_batches]
    ds._patch_generator = None
    b = [b["hr"] for b in plain_batches]
    assert len(a) == 2 and a[0].shape == (4, 3, 16, 16)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert collate_patches([{"hr": torch.zeros(3, 2, 2)}] * 2)["hr"].shape == (2, 3, 2, 2)


def test_crops_come_from_the_image_aligned_to_the_scale_grid(tmp_path):
    arr = (np.arange(31 * 43 * 3) % 251).astype(np.uint8).reshape(31, 43, 3)
    (tmp_path / "img").mkdir()
    Image.fromarray(arr).save(tmp_path / "img" / "a.png")
    ds = RandomPatchDataset(FolderImages(tmp_path / "img"), 3, 12, 50, augment=False)
    for i in range(50):
        patch = ds[i]["hr"].permute(1, 2, 0).numpy()
        hits = [
            (y, x)
            for y in range(0, 31 - 31 % 3 - 11, 3)
            for x in range(0, 43 - 43 % 3 - 11, 3)
            if np.array_equal(arr[y : y + 12, x : x + 12], patch)
        ]
        assert hits, "crop not found on the scale grid inside the mod-cropped image"


def test_cached_dataset_works_in_worker_processes(tmp_path):
    write_images(tmp_path / "img", 2, size=(40, 40))
    cache = DecodedImageCache(tmp_path / "cache", progress=False)
    ds = RandomPatchDataset(FolderImages(tmp_path / "img"), 2, 16, 8, in_memory=False, cache=cache)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=1)
    batches = [b["hr"] for b in loader]
    assert len(batches) == 2 and batches[0].shape == (4, 3, 16, 16)


# ---------------------------------------------------------------------------------- edge cases
@pytest.mark.parametrize("storage", ["memory", "cache", "decode"])
def test_small_images_are_skipped_with_a_warning_naming_the_file(tmp_path, caplog, storage):
    write_images(tmp_path / "img", 2, size=(40, 40))
    Image.fromarray(np.zeros((10, 50, 3), np.uint8)).save(tmp_path / "img" / "tiny.png")
    cache = DecodedImageCache(tmp_path / "cache", progress=False)
    with caplog.at_level(logging.WARNING):
        images = HRImages(FolderImages(tmp_path / "img"), storage, cache, scale=2, min_size=16)
    assert len(images) == 2 and [images.name(k) for k in range(2)] == ["img_000", "img_001"]
    assert "tiny.png" in caplog.text and "smaller than the 16 px patch" in caplog.text
    with pytest.raises(ConfigError, match="patch_size"):
        HRImages(FolderImages(tmp_path / "img"), storage, cache, scale=2, min_size=64)


@pytest.mark.parametrize("storage", ["memory", "cache", "decode"])
def test_corrupt_files_stop_with_the_name_or_are_skipped(tmp_path, caplog, storage):
    write_images(tmp_path / "img", 2, size=(40, 40))
    (tmp_path / "img" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    src = FolderImages(tmp_path / "img")
    cache = DecodedImageCache(tmp_path / "cache", progress=False)
    with pytest.raises(ImageReadError, match="broken.png"):
        HRImages(src, storage, cache, scale=2, min_size=16)
    with caplog.at_level(logging.WARNING):
        ds = RandomPatchDataset(
            src,
            2,
            16,
            4,
            in_memory=storage == "memory",
            cache=cache if storage == "cache" else None,
            skip_bad_images=True,
        )
    assert len(ds.images) == 2 and "broken.png" in caplog.text
    assert ds[0]["hr"].shape == (3, 16, 16)


def test_file_broken_past_its_header_is_skipped_at_sampling_time(tmp_path, caplog):
    paths = write_images(tmp_path / "img", 2, size=(40, 40))
    data = paths[1].read_bytes()
    mid = len(data) // 2
    paths[1].write_bytes(data[:mid] + bytes(64) + data[mid + 64 :])  # header intact, pixels broken
    ds = RandomPatchDataset(
        FolderImages(tmp_path / "img"), 2, 16, 40, in_memory=False, skip_bad_images=True
    )
    assert len(ds.images) == 2  # the header check cannot see it
    with caplog.at_level(logging.WARNING):
        for i in range(40):
            assert ds[i]["hr"].shape == (3, 16, 16)
    assert "img_001.png" in caplog.text
    strict = RandomPatchDataset(FolderImages(tmp_path / "img"), 2, 16, 40, in_memory=False)
    with pytest.raises(ImageReadError, match="img_001.png"):
        for i in range(40):
            strict[i]


def test_whole_images_keep_grey_and_are_mod_cropped(tmp_path):
    write_images(tmp_path / "val", 2, size=(45, 51), seed=2, grey_every=2)
    cache = DecodedImageCache(tmp_path / "cache", progress=False)
    for kwargs in ({"in_memory": True}, {"in_memory": False, "cache": cache}, {"in_memory": False}):
        ds = WholeImageDataset(FolderImages(tmp_path / "val"), 4, **kwargs)
        assert [ds[i]["hr"].shape for i in range(2)] == [(3, 44, 48), (1, 44, 48)]
        assert ds[1]["index"] == 1 and ds[1]["name"] == "img_001"


# ---------------------------------------------------------------------------------- epochs
def test_grid_sub_images_enumerate_every_position_deterministically(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, (70, 61, 3), dtype=np.uint8)
    (tmp_path / "img").mkdir()
    Image.fromarray(arr).save(tmp_path / "img" / "a.png")
    write_images(tmp_path / "img", 1, size=(33, 47))
    ds = GridPatchDataset(FolderImages(tmp_path / "img"), 3, 33, 14)
    # a.png mod-cropped to 69x60: rows 0,14,28 (+33 <= 69), cols 0,14 (+33 <= 60); img_000 33x45: 1x1.
    assert len(ds) == 3 * 2 + 1 * 1
    assert [tuple(r) for r in ds.grid[:6]] == [
        (0, 0, 0),
        (0, 0, 14),
        (0, 14, 0),
        (0, 14, 14),
        (0, 28, 0),
        (0, 28, 14),
    ]
    np.testing.assert_array_equal(ds[3]["hr"].permute(1, 2, 0).numpy(), arr[14:47, 14:47])
    assert torch.equal(ds[3]["hr"], ds[3]["hr"])  # no augmentation by default: deterministic
    twice = GridPatchDataset(FolderImages(tmp_path / "img"), 3, 33, 14, repeats=2)
    assert len(twice) == 14 and torch.equal(twice[7 + 3]["hr"], ds[3]["hr"])


def test_repeats_set_the_epoch_length_when_patches_per_epoch_is_null(tmp_path):
    write_images(tmp_path / "img", 3, size=(40, 40))
    src = FolderImages(tmp_path / "img")
    assert len(RandomPatchDataset(src, 2, 16, None, repeats=5)) == 15
    assert len(RandomPatchDataset(src, 2, 16, 100, repeats=5)) == 100


def test_datamodule_grid_sampling_from_the_config(tmp_path, image_dirs):
    from hydra.utils import instantiate

    cfg = compose_train(
        [f"data.{k}" for k in ("patch_sampling=grid", "patch_size=33", "grid_stride=14", "scale=3")]
        + ["data=folder", f"data.train_dir={image_dirs[0]}", f"data.val_dir={image_dirs[1]}"],
        output_dir=tmp_path / "run",
    )
    dm = instantiate(cfg.data)
    dm.setup("fit")
    # 6 images of 60x72: rows 0,14 (+33 <= 60); cols 0,14,28 (+33 <= 72) -> 6 sub-images each.
    assert isinstance(dm.train_set, GridPatchDataset) and len(dm.train_set) == 36


def test_t91_config_reads_t91_with_set5_validation(tmp_path, shared_data):
    from hydra.utils import instantiate

    cfg = compose_train(
        ["data=t91", f"paths.data_dir={shared_data}", "data.batch_size=4", "data.num_workers=0"],
        output_dir=tmp_path / "run",
    )
    dm = instantiate(cfg.data, degradation=instantiate(cfg.degradation))
    assert isinstance(dm.train_source, T91) and len(dm.train_source) == 91
    assert isinstance(dm.val_source, BenchmarkSet) and dm.val_source.set_name == "Set5"
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.val_set) == 5 and len(dm.train_set.images) == 91
    batch = dm.degrade(next(iter(dm.train_dataloader())), training=True)
    assert batch["hr"].shape == (4, 3, 48, 48) and batch["lr"].shape == (4, 3, 16, 16)
    assert [dm.val_set[i]["hr"].shape for i in (0, 4)] == [
        (3, 510, 510),
        (3, 342, 228),
    ]  # baby, woman


@pytest.mark.slow
def test_t91_acceptance_command_runs_50_steps(tmp_path, shared_data):
    """``python -m srlab.train model=srcnn data=t91 paths.data_dir=… trainer.max_steps=50``."""
    from tests.conftest import run_module

    args = [
        "model=srcnn",
        "data=t91",
        f"paths.data_dir={shared_data}",
        "trainer.max_steps=50",
        "logger=none",
        f"paths.experiments_dir={tmp_path / 'exp'}",
    ]
    proc = run_module("srlab.train", args, cwd=tmp_path, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "validation PSNR" in proc.stdout and "bicubic" in proc.stdout


def test_item04_ddp_ranks_draw_different_patches_and_runs_stay_reproducible(tmp_path):
    """Item 4: with num_workers=0 the crops and flips came from torch's global RNG, seeded alike
    on every DDP rank: every rank trained on the same patches. They now come from a generator
    seeded from (seed, rank): ranks differ, a given (seed, rank) replays, the global RNG does
    not matter."""
    from types import SimpleNamespace

    from srlab.data.datamodule import SRDataModule

    write_images(tmp_path / "img", 3, size=(40, 52), seed=2)
    source = FolderImages(tmp_path / "img")

    def patches(dataset_class, rank: int, seed: int = 7, **kw) -> torch.Tensor:
        torch.manual_seed(0)  # what seed_everything does on every rank
        ds = dataset_class(source, 2, 16, seed=seed, rank=rank, **kw)
        return torch.stack([ds[i]["hr"] for i in range(12)])

    for cls, kw in ((RandomPatchDataset, {"patches_per_epoch": 12}), (GridPatchDataset, {})):
        kw = {**kw, "augment": True}
        rank0, rank1 = patches(cls, 0, **kw), patches(cls, 1, **kw)
        assert not torch.equal(rank0, rank1), cls.__name__
        assert torch.equal(rank0, patches(cls, 0, **kw))  # reproducible
        assert not torch.equal(rank0, patches(cls, 0, seed=8, **kw))
        torch.manual_seed(123)  # the global RNG's state does not matter
        ds = cls(source, 2, 16, seed=7, rank=1, **kw)
        assert torch.equal(torch.stack([ds[i]["hr"] for i in range(12)]), rank1)

    # The DataModule gives each rank's dataset that rank (the trainer's global rank).
    dm = SRDataModule(source, source, scale=2, patch_size=16, patches_per_epoch=12, seed=7)
    dm.trainer = SimpleNamespace(global_rank=1)
    dm.setup("fit")
    assert (dm.train_set.seed, dm.train_set.rank) == (7, 1)
