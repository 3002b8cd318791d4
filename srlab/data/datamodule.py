"""The LightningDataModule: uint8 HR crops from CPU workers, LR made on the device.

Data flow (see ../ARCHITECTURE in the README):
    source files -> uint8 HR crops + flips/rot90 [CPU workers] -> collate, pin, transfer
    -> on_after_batch_transfer: float, degradation -> {"lr", "hr"} [on the training device]

Making LR after the transfer means the resize/blur/noise/JPEG work runs on the GPU when training on
a GPU, and the host only moves uint8 HR crops (4x less than float32). Training on a CPU without
workers, several batches are made together instead (:class:`BatchesAhead`, ``batches_ahead``):
crops back to back, then one degradation and colour conversion of the joined batch.

A degradation that draws nothing at random (plain bicubic: ``Degradation.deterministic``) gives
every image the same LR in every epoch, so by default (``lr_per_image``) it is applied once per
whole training image, on the training device when the loader is made, and converted to the
network's colour mode there; crops are then cut from the HR and LR images together
(:class:`~srlab.data.datasets.ImagePairs`):
    HR images -> [once, on the device] LR, network colour -> HR + LR crops + flips/rot90 [CPU]
    -> collate, transfer -> {"lr", "hr"} [the training device]
This is how SRCNN's own code (``generate_train.m``) and the DIV2K/BasicSR pipelines make bicubic
training pairs: a crop's LR is the whole image's LR under it, with no border effects of resizing
a 48-pixel crop on its own.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable, Collection, Iterator

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from srlab.data.cache import DecodedImageCache
from srlab.data.datasets import (
    GridPatchDataset,
    HRImages,
    ImagePairs,
    RandomPatchDataset,
    WholeImageDataset,
    check_patch_size,
    collate_patches,
    pack_rgbx,
)
from srlab.data.samplers import evaluation_sampler
from srlab.data.sources import ImageSource
from srlab.degradations.base import BicubicDegradation
from srlab.errors import ConfigError
from srlab.protocol.scoring import image_generator
from srlab.utils.precision import full_float32

log = logging.getLogger(__name__)


class SRDataModule(L.LightningDataModule):
    """HR patches for training, whole images for validation/test, LR made on the device.

    Args:
        train_source: HR training images.
        val_source: HR validation images (whole images, mod-cropped, deterministic LR).
        test_source: HR test images (defaults to ``val_source``).
        scale: SR factor (2, 3, 4, …).
        patch_size: HR crop size in pixels (divisible by ``scale``).
        batch_size: training batch size (validation uses 1: images differ in size).
        patches_per_epoch: crops per training epoch (so an epoch is a chosen number of steps);
            ``None`` = ``repeats`` crops per training image.
        num_workers: DataLoader workers for decoding and cropping.
        augment: random flips and 90° rotations.
        in_memory: decode images once and keep them in RAM (small sets); else read them from the
            decoded-image cache (``cache``) or, without it, decode the file for every crop.
        cache: use the decoded-image cache when not ``in_memory`` (see :mod:`srlab.data.cache`).
        cache_dir: where the cache lives (default ``<data root>/.srlab_cache`` via the configs).
        patch_sampling: ``"random"`` crops, or ``"grid"``: every sub-image on a ``grid_stride`` grid
            (SRCNN's 33x33 sub-images with stride 14).
        grid_stride: stride of the ``"grid"`` sub-images in HR pixels.
        repeats: crops per image per epoch (``"random"`` without ``patches_per_epoch``), or
            passes over all sub-images per epoch (``"grid"``).
        skip_bad_images: skip unreadable image files with a warning instead of stopping.
        download: recorded for the configs (sources take it via interpolation); unused here.
        degradation: module ``(hr, generator) -> lr``; defaults to MATLAB bicubic with uint8 LR.
        val_degradation: degradation for validation/test; defaults to ``degradation``.
        seed: seed of the training and validation degradation generators.
        pin_memory: pin host memory (only used when training on CUDA).
        sample_by_area: random crops pick an image in proportion to its area (every crop of the
            set equally likely) rather than uniformly per image; ``"random"`` sampling only.
        train_dir, val_dir: the folders ``data=folder`` reads (its sources interpolate them);
            kept for the record, unused otherwise.
        batches_ahead: training batches made together (:class:`BatchesAhead`): their crops
            back to back, then one degradation and colour conversion of the joined batch, handed
            out one batch per step; with the LR made per image (``lr_per_image``), their HR and
            LR crops cut in one call (:class:`CropsAhead`).
            ``"auto"``: on a CPU with ``num_workers=0`` in a single process, as many batches as
            make about 2 million HR pixels (13 batches of 64 x 48 x 48), at most 16; otherwise 1
            (workers or a GPU already take the data work off the step).
        lr_per_image: make each training image's LR once, in the network's colour mode, and cut
            crops from the HR and LR images together (:class:`~srlab.data.datasets.ImagePairs`)
            instead of degrading and converting every batch. ``"auto"``: whenever it can be done,
            i.e. the degradation draws nothing at random (plain bicubic), crops are random and
            the images are held in memory (``in_memory``); ``True``: the same, and a
            :class:`~srlab.errors.ConfigError` says why when it cannot; ``False``: per batch.
    """

    def __init__(
        self,
        train_source: ImageSource,
        val_source: ImageSource,
        test_source: ImageSource | None = None,
        scale: int = 3,
        patch_size: int = 48,
        batch_size: int = 64,
        patches_per_epoch: int | None = 32_000,
        num_workers: int = 2,
        augment: bool = True,
        in_memory: bool = True,
        cache: bool = True,
        cache_dir: str | None = None,
        patch_sampling: str = "random",
        grid_stride: int = 14,
        repeats: int = 1,
        skip_bad_images: bool = False,
        download: bool = False,
        degradation: torch.nn.Module | None = None,
        val_degradation: torch.nn.Module | None = None,
        seed: int = 0,
        pin_memory: bool = True,
        train_dir: str | None = None,
        val_dir: str | None = None,
        sample_by_area: bool = False,
        batches_ahead: int | str = "auto",
        lr_per_image: bool | str = "auto",
    ) -> None:
        super().__init__()
        if lr_per_image not in ("auto", True, False):
            raise ValueError(f"data.lr_per_image must be auto, true or false, got {lr_per_image!r}")
        self.lr_per_image = lr_per_image
        self._pairs_checked = False
        if not (batches_ahead == "auto" or (str(batches_ahead).isdigit() and int(batches_ahead))):
            raise ValueError(f"data.batches_ahead must be auto or >= 1, got {batches_ahead!r}")
        self.batches_ahead = batches_ahead if batches_ahead == "auto" else int(batches_ahead)
        check_patch_size(int(patch_size), int(scale))
        if patch_sampling not in ("random", "grid"):
            raise ValueError(
                f"data.patch_sampling must be 'random' or 'grid', got {patch_sampling!r}"
            )
        self.train_source = train_source
        self.val_source = val_source
        self.test_source = test_source if test_source is not None else val_source
        self.scale = int(scale)
        self.patch_size = int(patch_size)
        self.batch_size = int(batch_size)
        self.patches_per_epoch = int(patches_per_epoch) if patches_per_epoch else None
        self.num_workers = int(num_workers)
        self.augment = augment
        self.in_memory = in_memory
        if cache_dir is None:  # the configs pass ${paths.data_dir}/.srlab_cache
            cache_dir = os.path.join(os.environ.get("SRLAB_DATA_DIR", "data"), ".srlab_cache")
        self.cache = DecodedImageCache(cache_dir) if cache and not in_memory else None
        self.patch_sampling, self.grid_stride, self.repeats = (
            patch_sampling,
            int(grid_stride),
            int(repeats),
        )
        self.skip_bad_images = skip_bad_images
        self.download = download
        self.degradation = degradation if degradation is not None else BicubicDegradation(scale)
        self.val_degradation = val_degradation if val_degradation is not None else self.degradation
        self.seed = int(seed)
        self.pin_memory = pin_memory
        self.train_dir, self.val_dir = train_dir, val_dir
        self.sample_by_area = bool(sample_by_area)
        self._train_generator: torch.Generator | None = None
        self.train_set = self.val_set = self.test_set = None

    # ------------------------------------------------------------------ datasets
    def prepare_data(self) -> None:
        """Once per node (local rank 0): download missing data, build the decoded-image cache.

        The other ranks then find everything in place in :meth:`setup`.
        """
        sources = [self.train_source, self.val_source, self.test_source]
        for source in {id(s): s for s in sources}.values():
            source.prepare()
        if self.cache is not None:
            for source in {id(s): s for s in sources}.values():
                files = [source.file(i) for i in range(len(source))]
                if all(f is not None for f in files):
                    self.cache.build(
                        files, self.skip_bad_images, desc=f"caching {type(source).__name__}"
                    )

    def _whole_images(self, source: ImageSource) -> WholeImageDataset:
        return WholeImageDataset(
            source, self.scale, self.in_memory, self.cache, self.skip_bad_images
        )

    def setup(self, stage: str | None = None) -> None:
        # Each DDP rank draws its own patches (with num_workers=0 they come from a generator
        # seeded from the seed and the rank; worker processes are seeded per rank by Lightning).
        rank = self.trainer.global_rank if self.trainer is not None else 0
        common = dict(
            augment=self.augment,
            in_memory=self.in_memory,
            cache=self.cache,
            repeats=self.repeats,
            skip_bad_images=self.skip_bad_images,
            seed=self.seed,
            rank=rank,
        )
        if stage in (None, "fit") and self.train_set is None:
            if self.patch_sampling == "grid":
                self.train_set = GridPatchDataset(
                    self.train_source, self.scale, self.patch_size, self.grid_stride, **common
                )
            else:
                self.train_set = RandomPatchDataset(
                    self.train_source,
                    self.scale,
                    self.patch_size,
                    self.patches_per_epoch,
                    sample_by_area=self.sample_by_area,
                    **common,
                )
            log.info(
                "training on %d %s patches per epoch", len(self.train_set), self.patch_sampling
            )
        if stage in (None, "fit", "validate") and self.val_set is None:
            self.val_set = self._whole_images(self.val_source)
        if stage in (None, "test") and self.test_set is None:
            self.test_set = (
                self.val_set
                if self.test_source is self.val_source and self.val_set is not None
                else self._whole_images(self.test_source)
            )

    def _loader(self, dataset, batch_size: int, shuffle: bool, workers: int) -> DataLoader:
        on_cuda = self.trainer is not None and self.trainer.strategy.root_device.type == "cuda"
        # Evaluation under DDP: each image exactly once (Lightning's sampler would pad with repeats).
        sampler = None if shuffle else evaluation_sampler(dataset, self.trainer)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            sampler=sampler,
            num_workers=workers,
            pin_memory=self.pin_memory and on_cuda,
            persistent_workers=workers > 0,
            drop_last=shuffle,
            collate_fn=collate_patches,
        )

    def train_dataloader(self) -> DataLoader | BatchesAhead:
        self.make_image_pairs()
        loader = self._loader(self.train_set, self.batch_size, True, self.num_workers)
        ahead = self._batches_ahead()
        if ahead > 1 and self.train_set.pairs is not None:
            return CropsAhead(loader, ahead)
        return BatchesAhead(loader, self, ahead) if ahead > 1 else loader

    def _batches_ahead(self) -> int:
        """How many training batches :class:`BatchesAhead` makes together (1: none ahead)."""
        trainer = self.trainer
        if trainer is None:
            return 1
        return batches_ahead_for(
            self.batches_ahead,
            device_type=trainer.strategy.root_device.type,
            num_workers=self.num_workers,
            world_size=trainer.world_size,
            batch_size=self.batch_size,
            patch_size=self.patch_size,
        )

    def val_dataloader(self) -> DataLoader:
        # Whole images differ in size: one per batch. In RAM or memory-mapped: no workers needed.
        return self._loader(self.val_set, 1, False, self._eval_workers())

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, 1, False, self._eval_workers())

    def _eval_workers(self) -> int:
        return 0 if self.in_memory or self.cache is not None else self.num_workers

    # ------------------------------------------------------------------ LR per image
    def make_image_pairs(
        self,
        to_model_space: Callable[[dict], dict] | None = None,
        device: torch.device | None = None,
    ) -> ImagePairs | None:
        """Make every training image's LR once (``lr_per_image``) and hand the HR/LR pairs to
        the training set; ``None`` when LR is made per batch instead. Called by
        :meth:`train_dataloader` (the training device and the network are known by then).

        ``to_model_space`` and ``device`` default to the trainer's LightningModule
        (``model_space_batch``) and root device; a loop without a Trainer passes its own."""
        if self._pairs_checked or self.train_set is None:
            return getattr(self.train_set, "pairs", None)
        self._pairs_checked = True
        why_not = self._why_not_lr_per_image()
        pairs = None
        if why_not is None:
            trainer = self.trainer
            if device is None:
                device = (
                    trainer.strategy.root_device if trainer is not None else torch.device("cpu")
                )
            if to_model_space is None and trainer is not None:
                to_model_space = getattr(trainer.lightning_module, "model_space_batch", None)
            start = time.perf_counter()
            pairs = make_image_pairs(
                self.train_set.images, self.degradation, to_model_space, torch.device(device)
            )
            if pairs is None:
                why_not = "the network takes RGB and the LR is not on the uint8 grid"
            else:
                log.info(
                    "LR of the %d training images made once (%s, %.1f s, %.0f MB); crops are cut "
                    "from HR and LR together (data.lr_per_image)",
                    len(pairs.hr),
                    "network colour" if pairs.kind == "float" else "uint8 RGB",
                    time.perf_counter() - start,
                    pairs.nbytes / 2**20,
                )
        if why_not is not None:
            if self.lr_per_image is True:
                raise ConfigError(f"data.lr_per_image=true, but {why_not}")
            if self.lr_per_image == "auto":
                log.info("training LR made batch by batch: %s", why_not)
        self.train_set.pairs = pairs
        return pairs

    def _why_not_lr_per_image(self) -> str | None:
        """Why each training image's LR cannot be made once (None: it can)."""
        if self.lr_per_image is False:
            return "data.lr_per_image=false"
        if not isinstance(self.train_set, RandomPatchDataset):
            return "grid sub-images (data.patch_sampling=grid) are degraded batch by batch"
        if self.train_set.images.storage != "memory":
            return "the training images are not held in memory (data.in_memory=false)"
        if not getattr(self.degradation, "deterministic", False):
            return f"the degradation draws at random ({type(self.degradation).__name__})"
        return None

    # ------------------------------------------------------------------ LR on device
    def _generator(self, device: torch.device) -> torch.Generator:
        """The running generator of training degradations, on the training device (fast)."""
        if self._train_generator is None or self._train_generator.device != device:
            rank = self.trainer.global_rank if self.trainer is not None else 0
            self._train_generator = torch.Generator(device=device).manual_seed(
                self.seed + 1000 * rank
            )
        return self._train_generator

    def degrade(self, batch: dict, training: bool) -> dict:
        """uint8 ``batch["hr"] (B,C,H,W)`` -> float ``hr`` in [0,1] and ``lr (B,C,H/s,W/s)``.

        Training draws degradation parameters from a running generator on the device; validation
        and test seed a CPU generator per image from its index
        (:func:`~srlab.protocol.scoring.image_generator`), so every epoch, every run and every
        device see identical LR images, the ones ``srlab.evaluate`` makes.
        """
        if "lr" in batch:  # cut from LR made per image (or made ahead): only made float
            if batch["hr"].is_floating_point() and batch["lr"].is_floating_point():
                return batch
            return {**batch, "hr": as_float(batch["hr"]), "lr": as_float(batch["lr"])}
        hr = as_float(batch["hr"])
        # Full float32 (no TF32/bf16 products, no autocast): LR images never depend on the
        # trainer's precision settings.
        with full_float32(hr.device.type):
            if training:
                lr = self.degradation(hr, generator=self._generator(hr.device))
            else:
                index = int(batch["index"][0]) if "index" in batch else 0
                # A CPU generator per image: the same LR on every device (and in srlab.evaluate).
                lr = self.val_degradation(hr, generator=image_generator(self.seed, index))
        return {**batch, "hr": hr, "lr": lr}

    def transfer_batch_to_device(self, batch, device: torch.device, dataloader_idx: int):
        """The batch's tensors to ``device``; a flat dict is moved directly.

        Lightning's generic transfer walks any collection with ``apply_to_collection`` (~0.5 ms of
        host time per batch, also on the CPU where nothing moves); srlab's batches are flat dicts.
        """
        if isinstance(batch, dict) and all(
            isinstance(v, (torch.Tensor, str, int, float)) for v in batch.values()
        ):
            non_blocking = device.type == "cuda"  # pinned host memory: the copy overlaps
            return {
                k: v.to(device, non_blocking=non_blocking) if isinstance(v, torch.Tensor) else v
                for k, v in batch.items()
            }
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        training = self.trainer is not None and self.trainer.training
        return self.degrade(batch, training)

    def make_batches(self, batches: list[dict]) -> list[dict]:
        """Collated training batches -> the same batches on the training device with their LR,
        degraded as one joined batch and, when the LightningModule has a ``model_space_batch``
        method (:class:`~srlab.training.lit_module.SRModule`), already in the network's colour
        mode (:class:`BatchesAhead`)."""
        joinable = all(
            set(b) == set(batches[0]) and all(torch.is_tensor(v) for v in b.values())
            for b in batches
        )
        if not joinable:
            return [self._make([b])[0] for b in batches]
        return self._make(batches)

    def _make(self, batches: list[dict]) -> list[dict]:
        sizes = [len(b["hr"]) for b in batches]
        joined = batches[0] if len(batches) == 1 else self._join(batches)
        device = self.trainer.strategy.root_device
        made = self.degrade(self.transfer_batch_to_device(joined, device, 0), training=True)
        # Converted while the joined batch is still in the caches; per step it would be read back
        # from memory once the step's activations have evicted it (measured: no gain without it).
        to_model_space = getattr(self.trainer.lightning_module, "model_space_batch", None)
        if to_model_space is not None:
            made = to_model_space(made)
        parts = {
            k: v.split(sizes) if torch.is_tensor(v) else [v] * len(sizes) for k, v in made.items()
        }
        return [{k: parts[k][i] for k in made} for i in range(len(sizes))]

    @staticmethod
    def _join(batches: list[dict]) -> dict:
        return {k: torch.cat([b[k] for b in batches]) for k in batches[0]}


def as_float(image: torch.Tensor) -> torch.Tensor:
    """uint8 -> float32 in [0, 1] (``k / 255``, bit-identical to the quantised LR); float as is."""
    return image.float().div_(255) if image.dtype == torch.uint8 else image.float()


def make_image_pairs(
    images: HRImages,
    degradation: torch.nn.Module,
    to_model_space: Callable[[dict], dict] | None,
    device: torch.device,
) -> ImagePairs | None:
    """Each mod-cropped image of ``images``, its LR by ``degradation`` (which draws nothing), both
    in the network's colour mode (``to_model_space``, e.g. ``SRModule.model_space_batch``; None:
    RGB), as :class:`~srlab.data.datasets.ImagePairs`; ``None`` when the network takes RGB and
    the LR is off the uint8 grid (only uint8 RGB is stored: 4-byte pixels crop fast). For RGB the
    HR planes are views of ``images.rgbx()`` (in-memory images), not copies.

    Made one image at a time on ``device`` in full float32, as the batches would be; grey images
    are repeated to RGB first, as their crops are.
    """
    scale = images.scale
    hr_planes: list[np.ndarray] = []
    lr_planes: list[np.ndarray] = []
    kind = None
    for k in range(len(images)):
        hwc = images.array(k)
        h, w = hwc.shape[:2]
        chw = np.ascontiguousarray(hwc[: h - h % scale, : w - w % scale].transpose(2, 0, 1))
        hr = torch.from_numpy(chw).to(device).unsqueeze(0).float().div_(255)
        hr = hr.expand(-1, 3, -1, -1) if hr.shape[1] == 1 else hr
        with full_float32(device.type), torch.no_grad():
            # Its own generator: a deterministic step may still draw (a fixed sigma), and the
            # global RNG must not move.
            lr = degradation(hr, generator=torch.Generator(device=device).manual_seed(0))
            made = {"hr": hr, "lr": lr}
            made = to_model_space(made) if to_model_space is not None else made
        hr_made, lr_made = made["hr"][0], made["lr"][0]
        if hr_made.shape[0] == 1:
            kind = "float"
            hr_planes.append(_float_plane(hr_made[0]))
            lr_planes.append(_float_plane(lr_made[0]))
        elif made["hr"] is hr and _on_uint8_grid(lr_made):
            # RGB as it is: the HR planes are the RGBX pixels the crops already use.
            kind = "rgbx"
            hr_planes.append(images.rgbx()[k][: hr.shape[-2], : hr.shape[-1]])
            lr_planes.append(pack_rgbx(_to_uint8(lr_made)))
        else:
            return None
    return ImagePairs(hr_planes, lr_planes, kind, scale)


def _float_plane(plane: torch.Tensor) -> np.ndarray:
    """``(H, W)`` float tensor -> a float32 array viewed as uint32 (4-byte pixels)."""
    return plane.float().contiguous().cpu().numpy().view(np.uint32)


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    return image.mul(255).round_().to(torch.uint8).cpu().numpy()


def _on_uint8_grid(image: torch.Tensor) -> bool:
    """Every value is exactly ``k / 255`` (uint8 -> float, or a quantised LR)."""
    return bool(torch.equal(image.mul(255).round_().div_(255), image))


def batches_ahead_for(
    batches_ahead: int | str,
    *,
    device_type: str,
    num_workers: int,
    world_size: int,
    batch_size: int,
    patch_size: int,
) -> int:
    """``data.batches_ahead`` resolved for a run: ``"auto"`` = as many batches as make ~2M HR
    pixels (at most 16) when training on a CPU with ``num_workers=0``, else 1; always 1 under DDP
    (Lightning gives each rank its sampler on a plain DataLoader only)."""
    if world_size > 1:
        if batches_ahead != "auto" and int(batches_ahead) > 1:
            log.warning("data.batches_ahead=%s is ignored under DDP", batches_ahead)
        return 1
    if batches_ahead != "auto":
        return int(batches_ahead)
    if num_workers > 0 or device_type != "cpu":
        return 1
    return max(1, min(16, 2_000_000 // (batch_size * patch_size**2)))


class CropsAhead:
    """The training DataLoader over :class:`~srlab.data.datasets.ImagePairs` crops, its batches
    cut ``count`` at a time: one ``__getitems__`` call for ``count`` batches of indices from the
    loader's batch sampler, split into batches of the sampler's sizes (chunks never cross an
    epoch's end). Same distribution of crops as batch by batch, other draws."""

    def __init__(self, loader: DataLoader, count: int) -> None:
        self.loader, self.count = loader, int(count)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[dict]:
        dataset, collate = self.loader.dataset, self.loader.collate_fn
        batches = iter(self.loader.batch_sampler)
        while chunk := list(itertools.islice(batches, self.count)):
            made = collate(dataset.__getitems__([i for b in chunk for i in b]))
            sizes = [len(b) for b in chunk]
            parts = {k: v.split(sizes) for k, v in made.items()}
            for i in range(len(sizes)):
                yield {k: parts[k][i] for k in made}


class BatchesAhead:
    """The training DataLoader with its batches made ``count`` at a time.

    On a 2-core CPU the model's two threads fill both cores, so nothing overlaps the data work
    (one loader worker measured 15-19% slower). Batch by batch, cropping, degrading and colour
    conversion land inside the step right after it has filled the caches with activations,
    where they take ~2x their isolated time. ``count`` batches are cropped back to back, then
    degraded and converted to the network's colour mode as one joined batch
    (:meth:`SRDataModule.make_batches`) and handed out one per step, at about half the cost per
    batch: srlab/bare for SRCNN 9-1-5 0.887 -> 0.921, 9-5-5 0.925 -> 0.951 (both settings
    alternating in one process, three rounds each; README, "Performance and defaults").

    The loader is iterated exactly as before (same sampler, same crops in the same order); the
    bicubic LR is bit-identical. A random degradation draws its parameters for the joined batch
    at once: the same distribution, other draws than batch by batch. Chunks never cross an
    epoch's end, so a checkpoint at an epoch boundary holds no batch made ahead (resuming from it
    stays exact, :class:`~srlab.training.callbacks.checkpoint.TrainingStateCheckpoint`).
    """

    def __init__(self, loader: Collection[dict], datamodule: SRDataModule, count: int) -> None:
        self.loader, self.datamodule, self.count = loader, datamodule, int(count)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[dict]:
        batches = iter(self.loader)
        while chunk := list(itertools.islice(batches, self.count)):
            yield from self.datamodule.make_batches(chunk)
