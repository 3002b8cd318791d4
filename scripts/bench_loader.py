"""Benchmark the training data loader on 2K images: naive decode-per-sample vs the decoded cache.

    PYTHONPATH=. python scripts/bench_loader.py            # 20 synthetic 2040x1356 PNGs, 96 px, 2 workers

Writes ``--images`` synthetic PNGs (smooth structure + edges + sensor-like noise, so they compress
like photos: ~4-6 MB each, as DIV2K's) into a temporary folder, then measures training patches per
second through a real ``DataLoader`` (``--batch`` crops of ``--patch`` px, ``--workers`` workers):

* naive  — every sample decodes its PNG (``data.in_memory=false data.cache=false``);
* cold   — first epoch with an empty cache: decoding all images into the cache + the epoch;
* warm   — the next epoch, reading crops from the memory-mapped cache (steady state).

Patches/s excludes worker start-up except for ``cold``, which is wall time from nothing.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from srlab.data.cache import DecodedImageCache
from srlab.data.datasets import RandomPatchDataset
from srlab.data.sources import FolderImages


def synthetic_photo(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A photo-like ``(h, w, 3)`` uint8 image: smooth colour field, hard edges, mild noise."""
    coarse = rng.uniform(0, 255, (max(2, h // 48), max(2, w // 48), 3)).astype(np.uint8)
    img = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC), dtype=np.float32)
    fine = rng.uniform(0, 255, (max(2, h // 6), max(2, w // 6), 3)).astype(np.uint8)
    img += 0.25 * (
        np.asarray(Image.fromarray(fine).resize((w, h), Image.BILINEAR), dtype=np.float32) - 128
    )
    for _ in range(6):  # a few sharp-edged rectangles
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        img[y0 : y0 + rng.integers(50, 400), x0 : x0 + rng.integers(50, 400)] += rng.uniform(
            -60, 60, 3
        )
    img += rng.normal(0, 3, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_images(folder: Path, count: int, h: int, w: int) -> float:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(synthetic_photo(rng, h, w)).save(folder / f"{i + 1:04d}.png")
    return sum(p.stat().st_size for p in folder.glob("*.png")) / count / 1e6


def rate(loader: DataLoader, batches: int, skip: int = 1) -> float:
    """Patches/s over ``batches`` batches after ``skip`` warm-up batches (worker start-up)."""
    it = iter(loader)
    for _ in range(skip):
        next(it)
    start, n = time.perf_counter(), 0
    for _ in range(batches):
        n += next(it)["hr"].shape[0]
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--size", default="2040x1356", help="W x H of the synthetic images")
    parser.add_argument("--patch", type=int, default=96)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epoch", type=int, default=6400, help="patches per epoch (cold and warm)")
    parser.add_argument("--naive-batches", type=int, default=6)
    parser.add_argument(
        "--dir", type=Path, default=None, help="keep images/cache here (default: temp)"
    )
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))

    root = args.dir or Path(tempfile.mkdtemp(prefix="srlab-bench-"))
    images, cache_dir = root / "images", root / "cache"
    try:
        t = time.perf_counter()
        if not any(images.glob("*.png")):
            mb = make_images(images, args.images, h, w)
            print(
                f"wrote {args.images} PNGs of {w}x{h} ({mb:.1f} MB each) in {time.perf_counter() - t:.1f} s"
            )
        shutil.rmtree(cache_dir, ignore_errors=True)
        source = FolderImages(images)
        torch.manual_seed(0)
        common = dict(batch_size=args.batch, shuffle=True, num_workers=args.workers, drop_last=True)

        naive_set = RandomPatchDataset(source, args.scale, args.patch, args.epoch, in_memory=False)
        naive = rate(DataLoader(naive_set, **common), args.naive_batches)
        print(f"naive (decode per sample): {naive:9.1f} patches/s")

        t = time.perf_counter()
        cache = DecodedImageCache(cache_dir)
        cached_set = RandomPatchDataset(
            source, args.scale, args.patch, args.epoch, in_memory=False, cache=cache
        )
        build = time.perf_counter() - t
        loader = DataLoader(cached_set, persistent_workers=args.workers > 0, **common)
        n = sum(b["hr"].shape[0] for b in loader)  # first epoch, workers started from scratch
        cold_s = time.perf_counter() - t
        cache_mb = sum(p.stat().st_size for p in cache_dir.glob("*.npy")) / 1e6
        print(
            f"cold (build + 1st epoch):  {n / cold_s:9.1f} patches/s "
            f"({n} patches in {cold_s:.1f} s; cache build {build:.1f} s, {cache_mb:.0f} MB on disk)"
        )
        start, n = time.perf_counter(), 0
        for b in loader:  # second epoch: persistent workers, warm page cache
            n += b["hr"].shape[0]
        warm = n / (time.perf_counter() - start)
        print(f"warm (cached, epoch 2):    {warm:9.1f} patches/s ({warm / naive:.0f}x naive)")
        print(
            f"settings: {args.images} images {w}x{h}, {args.patch}x{args.patch} HR crops, batch {args.batch}, "
            f"{args.workers} workers, {torch.get_num_threads()} torch threads"
        )
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
