"""Torch datasets over an :class:`~srlab.data.sources.ImageSource`.

Training yields HR crops (uint8, optional flips and 90° rotations) — random ones
(:class:`RandomPatchDataset`) or every sub-image on a fixed grid (:class:`GridPatchDataset`, SRCNN's
33x33 / stride 14 protocol); the LR input is made later, on the device, by the degradation (see
:mod:`srlab.data.datamodule`) — or, for a degradation that draws nothing at random, made once per
whole image on the device, and random crops are cut from the HR and LR together
(:class:`ImagePairs`). Validation yields whole mod-cropped HR images.

Where pixels come from is :class:`HRImages`' ``storage``: ``"memory"`` (decoded once into RAM: small
sets), ``"cache"`` (decoded once into memory-mapped ``.npy`` files: large sets, see
:mod:`srlab.data.cache`) or ``"decode"`` (the file is decoded for every sample: the naive baseline).

Its length: the three patch/whole-image datasets share the image store (HRImages) and the seeded
patch randomness that exact resume and DDP rely on; keeping them together keeps that randomness in
one place.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate, get_worker_info

from srlab.data.cache import DecodedImageCache, MemmapImages
from srlab.data.imageio import image_size
from srlab.data.sources import ImageSource
from srlab.errors import ConfigError, ImageReadError

log = logging.getLogger(__name__)

STORAGES = ("memory", "cache", "decode")


def modcrop(img: torch.Tensor, scale: int) -> torch.Tensor:
    """Crop ``(…, H, W)`` to the top-left ``(H - H % scale, W - W % scale)`` (the SR protocol)."""
    h, w = img.shape[-2:]
    return img[..., : h - h % scale, : w - w % scale]


def augment(patch: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    """Apply the dihedral augmentation given by 3 booleans (hflip, vflip, transpose)."""
    if flips[0]:
        patch = patch.flip(-1)
    if flips[1]:
        patch = patch.flip(-2)
    if flips[2]:
        patch = patch.transpose(-2, -1)
    return patch


def flipped_view(view: np.ndarray, hflip: bool, vflip: bool, transpose: bool) -> np.ndarray:
    """``(H, W, …)`` array flipped and transposed as :func:`augment` does, still a view (the copy
    into a batch buffer is the only pass over the pixels)."""
    if hflip:
        view = view[:, ::-1]
    if vflip:
        view = view[::-1]
    return view.swapaxes(0, 1) if transpose else view


def crop_chw(
    image: np.ndarray, y: int, x: int, size: int, flips: Sequence[bool] = (False, False, False)
) -> torch.Tensor:
    """``(H, W, C)`` array -> ``(3, size, size)`` uint8 crop at ``(y, x)``, flipped as :func:`augment`.

    Works on views (a memory-mapped image reads only the rows it needs) and copies once.
    """
    patch = flipped_view(image[y : y + size, x : x + size], *flips)
    chw = patch.transpose(2, 0, 1)
    if chw.shape[0] == 1:  # grey: repeat to RGB so that every batch collates
        chw = np.broadcast_to(chw, (3, *chw.shape[1:]))
    return torch.from_numpy(np.array(chw, order="C"))  # a writable copy: memmaps are read-only


def rgbx_to_chw(pixels: np.ndarray) -> torch.Tensor:
    """``(…, H, W)`` uint32 RGBX pixels -> ``(…, 3, H, W)`` uint8 RGB."""
    rgbx = torch.from_numpy(pixels.view(np.uint8).reshape(*pixels.shape, 4))
    return rgbx[..., :3].movedim(-1, -3).contiguous()


def gather_crops(
    rgbx: Sequence[np.ndarray],
    picks: torch.Tensor,
    tops: torch.Tensor,
    lefts: torch.Tensor,
    flips: torch.Tensor,
    size: int,
) -> torch.Tensor:
    """Crops of RGBX-packed images, flipped as :func:`augment`: ``(n, 3, size, size)`` uint8.

    Args:
        rgbx: the images as ``(H, W)`` uint32 RGBX pixels (:meth:`HRImages.rgbx`).
        picks: ``(n,)`` image index of each crop.
        tops, lefts: ``(n,)`` top-left corner of each crop in its image.
        flips: ``(n, 3)`` hflip, vflip, transpose (0/1), applied in that order.
        size: crop side in pixels.

    Each crop is a view, flipped and transposed as a view, copied once into the batch buffer:
    ~1 µs a crop with 4-byte pixels already in the caches, 4-8 µs for random crops read from
    memory (flips and transposes are strided copies). (A vectorised gather of the whole batch
    measured slower: torch's and numpy's gathers cost ~2 ns per pixel against a row copy's
    memcpy.) :meth:`ImagePairs.crops` cuts HR and LR planes the same way, in one loop.
    """
    crops = np.empty((len(picks), size, size), dtype=np.uint32)
    where = zip(picks.tolist(), tops.tolist(), lefts.tolist(), flips.tolist(), strict=True)
    for i, (k, y, x, flip) in enumerate(where):
        crops[i] = flipped_view(rgbx[k][y : y + size, x : x + size], *flip)
    return rgbx_to_chw(crops)


def pack_rgbx(chw: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` uint8 (C = 1 grey, repeated, or 3) -> ``(H, W)`` uint32 RGBX pixels (X = 0)."""
    rgbx = np.zeros((*chw.shape[1:], 4), dtype=np.uint8)
    rgbx[..., :3] = chw.transpose(1, 2, 0)
    return rgbx.view(np.uint32)[..., 0]


class ImagePairs:
    """Every training image's HR and LR, made once, as planes of 4-byte pixels for fast crops.

    ``kind``:

    * ``"float"``: one-channel float32 planes (a Y network's HR and LR, already converted);
      crops are ``(n, 1, p, p)`` float32;
    * ``"rgbx"``: RGB on the uint8 grid, packed as RGBX; crops are ``(n, 3, p, p)`` uint8
      (made float on the device, bit-identical to the float image).

    Args:
        hr: ``(H, W)`` uint32 views of each mod-cropped HR image.
        lr: ``(H/s, W/s)`` uint32 views of each image's LR.
        kind: ``"float"`` or ``"rgbx"``.
        scale: the SR factor (crop corners on the HR image are multiples of it).
    """

    KINDS = ("float", "rgbx")

    def __init__(self, hr: list[np.ndarray], lr: list[np.ndarray], kind: str, scale: int) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"kind must be one of {self.KINDS}, got {kind!r}")
        if len(hr) != len(lr):
            raise ValueError(f"{len(hr)} HR images but {len(lr)} LR images")
        for k, (h, low) in enumerate(zip(hr, lr, strict=True)):
            if h.shape[0] != low.shape[0] * scale or h.shape[1] != low.shape[1] * scale:
                raise ValueError(
                    f"image {k}: LR {tuple(low.shape)} is not HR {tuple(h.shape)} / {scale}"
                )
        self.hr, self.lr, self.kind, self.scale = hr, lr, kind, int(scale)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.hr) + sum(a.nbytes for a in self.lr)

    def _decode(self, pixels: np.ndarray) -> torch.Tensor:
        if self.kind == "float":
            return torch.from_numpy(pixels.view(np.float32)).unsqueeze(1)
        return rgbx_to_chw(pixels)

    def crops(
        self,
        picks: torch.Tensor,
        tops: torch.Tensor,
        lefts: torch.Tensor,
        flips: torch.Tensor,
        size: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """HR crops at ``(tops, lefts)`` (multiples of ``scale``) and the LR crops under them,
        with the same flips: ``(n, C, size, size)`` and ``(n, C, size/s, size/s)``.

        Flips and transposes commute with the bicubic resize of a mod-cropped image (its sample
        grid is symmetric), so a flipped LR crop is the LR of the flipped HR crop. One loop cuts
        both (:func:`flipped_view`, as :func:`gather_crops`: one copy each)."""
        s, q = self.scale, size // self.scale
        hr = np.empty((len(picks), size, size), dtype=np.uint32)
        lr = np.empty((len(picks), q, q), dtype=np.uint32)
        where = zip(picks.tolist(), tops.tolist(), lefts.tolist(), flips.tolist(), strict=True)
        for i, (k, y, x, flip) in enumerate(where):
            hr[i] = flipped_view(self.hr[k][y : y + size, x : x + size], *flip)
            lr[i] = flipped_view(self.lr[k][y // s : y // s + q, x // s : x // s + q], *flip)
        return self._decode(hr), self._decode(lr)


class HRImages:
    """The usable images of a source as ``(H, W, C)`` uint8 arrays, C = 1 or 3.

    Images whose mod-cropped side is below ``min_size`` are skipped with a warning naming the file;
    unreadable images raise :class:`~srlab.errors.ImageReadError` (naming the file), or are skipped
    with a warning when ``skip_bad_images``.

    Args:
        source: the image collection.
        storage: ``"memory"``, ``"cache"`` (needs ``cache`` and file-backed images; falls back to
            memory otherwise) or ``"decode"``.
        cache: the decoded-image cache for ``storage="cache"``.
        scale: SR factor (sizes are checked after mod-cropping to it).
        min_size: smallest usable side in pixels (the patch size for training).
        skip_bad_images: skip unreadable files instead of failing.
    """

    def __init__(
        self,
        source: ImageSource,
        storage: str = "memory",
        cache: DecodedImageCache | None = None,
        scale: int = 1,
        min_size: int = 1,
        skip_bad_images: bool = False,
    ) -> None:
        if storage not in STORAGES:
            raise ConfigError(f"storage must be one of {STORAGES}, got {storage!r}")
        n = len(source)
        if storage == "cache" and (cache is None or any(source.file(i) is None for i in range(n))):
            storage = "memory"  # nothing to key the cache on
        self.source, self.storage, self.scale = source, storage, int(scale)
        self.skip_bad_images = skip_bad_images
        self._warned: set[int] = set()
        self.indices: list[int] = []  # source index of each usable image
        self.sizes: list[tuple[int, int]] = []  # (H, W) before mod-cropping
        self._arrays: list[np.ndarray] | MemmapImages | None = None
        self._rgbx: list[np.ndarray] | None = None

        if storage == "memory":
            arrays = []
            for i in range(n):
                try:
                    arr = source.load(i).permute(1, 2, 0).numpy()
                except ImageReadError as e:
                    self._bad(e)
                    continue
                if self._usable(i, arr.shape[:2], min_size):
                    arrays.append(arr)
            self._arrays = arrays
        elif storage == "cache":
            files = [source.file(i) for i in range(n)]
            entries = cache.build(
                files, skip_bad_images=skip_bad_images, desc=f"caching {type(source).__name__}"
            )
            kept = []
            for i, entry in enumerate(entries):
                if entry is None:
                    continue
                shape = np.load(entry, mmap_mode="r").shape
                if self._usable(i, shape[:2], min_size):
                    kept.append(entry)
            self._arrays = MemmapImages(kept)
        else:
            for i in range(n):
                try:
                    path = source.file(i)
                    size = (
                        image_size(path) if path is not None else tuple(source.load(i).shape[-2:])
                    )
                except ImageReadError as e:
                    self._bad(e)
                    continue
                self._usable(i, size, min_size)
        if not self.indices:
            raise ConfigError(
                f"no usable image in {source.describe()}: each needs a side of at least {min_size} px "
                f"after mod-cropping to x{scale} (see the warnings above; lower data.patch_size?)"
            )

    def _bad(self, error: ImageReadError) -> None:
        if not self.skip_bad_images:
            raise error
        log.warning("skipping unreadable image (data.skip_bad_images=true): %s", error)

    def _usable(self, i: int, size: tuple[int, int], min_size: int) -> bool:
        h, w = size[0] - size[0] % self.scale, size[1] - size[1] % self.scale
        if min(h, w) < min_size:
            what = self.source.file(i) or self.source.name(i)
            log.warning(
                "skipping %s: %dx%d is smaller than the %d px patch",
                what,
                size[1],
                size[0],
                min_size,
            )
            return False
        self.indices.append(i)
        self.sizes.append((int(size[0]), int(size[1])))
        return True

    def __len__(self) -> int:
        return len(self.indices)

    def name(self, k: int) -> str:
        return self.source.name(self.indices[k])

    def rgbx(self) -> list[np.ndarray] | None:
        """In-memory images as ``(H, W)`` uint32 arrays of RGBX pixels (grey repeated to RGB,
        X = 0) for :func:`gather_crops`, made on the first call; ``None`` for the cache and
        decode storages.

        A horizontal flip or a transpose of an ``(H, W, 3)`` uint8 crop is an element-wise strided
        copy (~11 µs for 48x48 px); of 4-byte pixels it is a plain strided copy (~1 µs). Colour
        images' :meth:`array` become views into these (4/3 of the memory, not twice).
        """
        if self.storage != "memory":
            return None
        if self._rgbx is None:
            packed = []
            for k, hwc in enumerate(self._arrays):
                pixels = pack_rgbx(hwc.transpose(2, 0, 1))
                packed.append(pixels)
                if hwc.shape[2] == 3:  # the colour array becomes a view into the RGBX pixels
                    self._arrays[k] = pixels.view(np.uint8).reshape(*pixels.shape, 4)[..., :3]
            self._rgbx = packed
        return self._rgbx

    def array(self, k: int) -> np.ndarray:
        """Image ``k`` as ``(H, W, C)`` uint8 (a read-only memory map for the cache)."""
        if self._arrays is not None:
            return self._arrays[k]
        return self.source.load(self.indices[k]).permute(1, 2, 0).numpy()


def check_patch_size(patch_size: int, scale: int) -> None:
    """The one place of the rule that HR crops are whole multiples of the scale.

    Raises:
        ConfigError: naming ``data.patch_size`` and the nearest valid sizes.
    """
    if not isinstance(patch_size, int) or isinstance(patch_size, bool) or patch_size < 1:
        raise ConfigError(f"data.patch_size={patch_size}: must be a positive integer")
    if patch_size % scale:
        lower, upper = patch_size - patch_size % scale, patch_size - patch_size % scale + scale
        hint = f"e.g. {lower} or {upper}" if lower > 0 else f"e.g. {upper}"
        raise ConfigError(
            f"data.patch_size={patch_size}: must be divisible by data.scale={scale} ({hint})"
        )


def patch_seed(seed: int | None, rank: int) -> int:
    """Seed of the patch generator of global rank ``rank`` (``seed`` None: a random one)."""
    if seed is None:
        seed = int(torch.randint(2**62, ()))  # the global RNG: the run is not seeded anyway
    return int(np.random.SeedSequence([int(seed), int(rank)]).generate_state(1, np.uint64)[0])


class _PatchRandomness:
    """Where the random crops and flips of a training dataset come from.

    Inside a DataLoader worker: torch's global RNG, which PyTorch seeds per worker (and Lightning's
    ``seed_everything(workers=True)`` per worker and rank). In the main process
    (``num_workers=0``): :attr:`patch_generator`, seeded from ``(seed, rank)``. The global RNG
    would be the same on every DDP rank there (``seed_everything`` seeds all ranks alike), so all
    ranks would train on the same patches. Set :attr:`rank` to the global rank before iterating
    (the DataModule does in ``setup``).
    """

    seed: int | None = None
    rank: int = 0
    _patch_generator: torch.Generator | None = None

    @property
    def patch_generator(self) -> torch.Generator:
        """The main process's generator of crops and flips (created on first use)."""
        if self._patch_generator is None:
            self._patch_generator = torch.Generator().manual_seed(patch_seed(self.seed, self.rank))
        return self._patch_generator

    def _generator(self) -> torch.Generator | None:
        return None if get_worker_info() is not None else self.patch_generator

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_patch_generator"] = None  # workers use their own seeded global RNG
        return state


def _patch_count(patches_per_epoch: int | None, repeats: int, n: int) -> int:
    return int(patches_per_epoch) if patches_per_epoch else int(repeats) * n


def _patch_images(
    source: ImageSource,
    scale: int,
    patch_size: int,
    in_memory: bool,
    cache: DecodedImageCache | None,
    skip_bad_images: bool,
) -> HRImages:
    """The images crops are cut from: in RAM, from the decoded-image cache, or decoded per crop."""
    check_patch_size(patch_size, scale)
    storage = "memory" if in_memory else ("cache" if cache is not None else "decode")
    return HRImages(source, storage, cache, scale, patch_size, skip_bad_images)


class RandomPatchDataset(_PatchRandomness, Dataset):
    """Random scale-aligned HR crops: ``patches_per_epoch`` per epoch (default ``repeats`` per image).

    Each item picks an image uniformly, a crop whose top-left corner lies on the ``scale`` grid
    inside the mod-cropped image, and, with ``augment``, a random flip/rotation. Randomness comes
    from a generator seeded from ``(seed, rank)`` in the main process, and from torch's global RNG
    (seeded per worker and rank) in DataLoader workers (:class:`_PatchRandomness`): runs are
    reproducible under a seed, and DDP ranks draw different patches. Grey images are repeated to
    3 channels so that every batch collates.

    Args:
        source: HR images.
        scale: SR factor; ``patch_size`` must be divisible by it.
        patch_size: HR crop side in pixels.
        patches_per_epoch: items per epoch; ``None`` = ``repeats × number of images``.
        augment: random flips and 90° rotations.
        in_memory: decode every image once into RAM; else use ``cache`` (or decode per sample
            when ``cache`` is None).
        cache: decoded-image cache for large images.
        repeats: crops per image per epoch when ``patches_per_epoch`` is None.
        skip_bad_images: skip unreadable files with a warning instead of failing.
        sample_by_area: pick an image with probability proportional to its number of crop
            positions (every crop of the set equally likely) instead of uniformly per image.
        seed: seed of the main process's patch generator (``None``: random).
        rank: global rank (DDP); with ``seed`` it seeds the patch generator.

    Item: ``{"hr": (3, patch_size, patch_size) uint8}``; with :attr:`pairs` set (each image's LR
    made once), ``{"hr": (C, p, p), "lr": (C, p/s, p/s)}`` cut from them (:class:`ImagePairs`).
    """

    def __init__(
        self,
        source: ImageSource,
        scale: int,
        patch_size: int,
        patches_per_epoch: int | None = None,
        augment: bool = True,
        in_memory: bool = True,
        cache: DecodedImageCache | None = None,
        repeats: int = 1,
        skip_bad_images: bool = False,
        sample_by_area: bool = False,
        seed: int | None = None,
        rank: int = 0,
    ) -> None:
        self.images = _patch_images(source, scale, patch_size, in_memory, cache, skip_bad_images)
        self.scale, self.patch_size, self.augment = int(scale), int(patch_size), augment
        self.seed, self.rank = seed, int(rank)
        self.patches_per_epoch = _patch_count(patches_per_epoch, repeats, len(self.images))
        # Probability of each image: its number of scale-aligned crop positions (or uniform).
        s, p = self.scale, self.patch_size
        # (images, 2): crop positions on the scale grid down and across each image.
        self.positions = torch.tensor(
            [((h - h % s - p) // s + 1, (w - w % s - p) // s + 1) for h, w in self.images.sizes],
            dtype=torch.float64,
        )
        self.image_weights = self.positions.prod(1) if sample_by_area else None
        # Each image's HR and LR made once (SRDataModule, ``data.lr_per_image``): crops are then
        # cut from both, and the items carry their "lr".
        self.pairs: ImagePairs | None = None

    def _pick_image(self, generator: torch.Generator | None) -> int:
        if self.image_weights is None:
            return int(torch.randint(len(self.images), (), generator=generator).item())
        return int(torch.multinomial(self.image_weights, 1, generator=generator).item())

    def __len__(self) -> int:
        return self.patches_per_epoch

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        if self.pairs is not None:
            return self.__getitems__([item])[0]
        generator = self._generator()
        for _ in range(100):
            k = self._pick_image(generator)
            try:
                image = self.images.array(k)
                break
            except ImageReadError as e:  # decode storage: a file broken past its header
                if not self.images.skip_bad_images:
                    raise
                if k not in self.images._warned:
                    self.images._warned.add(k)
                    log.warning("skipping unreadable image (data.skip_bad_images=true): %s", e)
        else:
            raise ImageReadError(f"no readable image left in {self.images.source.describe()}")
        h, w = image.shape[:2]
        s, p = self.scale, self.patch_size
        y = s * int(torch.randint((h - h % s - p) // s + 1, (), generator=generator).item())
        x = s * int(torch.randint((w - w % s - p) // s + 1, (), generator=generator).item())
        flips = torch.randint(2, (3,), generator=generator).tolist() if self.augment else (0, 0, 0)
        return {"hr": crop_chw(image, y, x, p, flips)}

    def __getitems__(self, items: Sequence[int]) -> Sequence[dict[str, torch.Tensor]]:
        """A whole batch of crops at once, as a :class:`PatchBatch` of ``(n, 3, p, p)`` uint8
        (``collate_patches`` takes it without a copy). The DataLoader's fetcher calls this rather
        than ``__getitem__`` per item.

        Same distribution as ``__getitem__``, less host time: the random numbers are drawn in
        three calls instead of four per crop, and in-memory images are cropped, flipped and
        transposed as 4-byte RGBX pixels (:func:`gather_crops`) into one batch buffer, ~4 µs a
        crop instead of ~14 µs. Images decoded per crop (which can fail and be retried) go
        through ``__getitem__``.
        """
        if self.images.storage == "decode":
            return [self[i] for i in items]
        n, g = len(items), self._generator()
        if self.image_weights is None:
            picks = torch.randint(len(self.images), (n,), generator=g)
        else:
            picks = torch.multinomial(self.image_weights, n, replacement=True, generator=g)
        corners = torch.rand(n, 2, dtype=torch.float64, generator=g)
        flips = (
            torch.randint(2, (n, 3), generator=g)
            if self.augment
            else torch.zeros(n, 3, dtype=torch.long)
        )
        s, p = self.scale, self.patch_size
        # Corners on the scale grid, uniform over each image's own number of positions.
        positions = self.positions[picks]  # (n, 2) float64
        tops, lefts = (s * (corners * positions).long()).unbind(1)
        if self.pairs is not None:
            return PatchBatch(*self.pairs.crops(picks, tops, lefts, flips, p))
        packed = self.images.rgbx()
        if packed is not None:
            return PatchBatch(gather_crops(packed, picks, tops, lefts, flips, p))
        # Memory-mapped cache: (H, W, C) files, cropped one by one.
        where = zip(picks.tolist(), tops.tolist(), lefts.tolist(), flips.tolist(), strict=True)
        crops = [crop_chw(self.images.array(k), y, x, p, f) for k, y, x, f in where]
        return PatchBatch(torch.stack(crops))


class PatchBatch(Sequence):
    """A batch of crops made at once, that still reads as the list of items a ``Dataset`` returns.

    :func:`collate_patches` (srlab's DataLoaders) takes ``{"hr": hr}`` (and ``"lr"`` when the
    crops were cut from LR made per image) as it is; PyTorch's ``default_collate`` (anyone's plain
    DataLoader) sees ``len(batch)`` items ``{"hr": hr[i], …}`` and stacks them back into the same
    tensors.
    """

    def __init__(self, hr: torch.Tensor, lr: torch.Tensor | None = None) -> None:
        self.hr = hr  # (n, C, p, p): uint8 RGB, or float32 Y cut from ImagePairs
        self.lr = lr  # (n, C, p/s, p/s) or None

    def as_dict(self) -> dict[str, torch.Tensor]:
        return {"hr": self.hr} if self.lr is None else {"hr": self.hr, "lr": self.lr}

    def __len__(self) -> int:
        return self.hr.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.as_dict().items()}


def collate_patches(batch: Sequence) -> dict:
    """The training DataLoader's ``collate_fn``: a :class:`PatchBatch` is already a batch (no
    copy); a list of items is collated as PyTorch's ``default_collate`` does."""
    if isinstance(batch, PatchBatch):
        return batch.as_dict()
    return default_collate(batch)


class GridPatchDataset(_PatchRandomness, Dataset):
    """Every ``patch_size`` sub-image on a ``stride`` grid of every (mod-cropped) image, in order.

    SRCNN's training set (Dong et al., 2014/2016): 33x33 sub-images with stride 14 from T91, e.g.
    ``data=t91 data.patch_sampling=grid data.patch_size=33 data.grid_stride=14 data.augment=false``.
    The enumeration is deterministic (image order, then rows, then columns); the DataLoader
    shuffles (DDP: each rank its share). An epoch visits every sub-image ``repeats`` times; flips
    (``augment``) are drawn as in :class:`RandomPatchDataset` (``seed``, ``rank``).

    Item: ``{"hr": (3, patch_size, patch_size) uint8}``.
    """

    def __init__(
        self,
        source: ImageSource,
        scale: int,
        patch_size: int = 33,
        stride: int = 14,
        augment: bool = False,
        in_memory: bool = True,
        cache: DecodedImageCache | None = None,
        repeats: int = 1,
        skip_bad_images: bool = False,
        seed: int | None = None,
        rank: int = 0,
    ) -> None:
        if stride < 1:
            raise ValueError(f"grid stride must be positive, got {stride}")
        self.seed, self.rank = seed, int(rank)
        self.images = _patch_images(source, scale, patch_size, in_memory, cache, skip_bad_images)
        self.scale, self.patch_size, self.stride, self.augment = (
            int(scale),
            int(patch_size),
            int(stride),
            augment,
        )
        rows = []
        for k, (h, w) in enumerate(self.images.sizes):
            h, w = h - h % scale, w - w % scale
            ys = np.arange(0, h - patch_size + 1, stride)
            xs = np.arange(0, w - patch_size + 1, stride)
            yy, xx = np.meshgrid(ys, xs, indexing="ij")
            rows.append(np.stack([np.full(yy.size, k), yy.ravel(), xx.ravel()], axis=1))
        self.grid = np.concatenate(rows).astype(np.int64)  # (N, 3): image, top, left
        self.repeats = int(repeats)

    def __len__(self) -> int:
        return len(self.grid) * self.repeats

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        k, y, x = (int(v) for v in self.grid[item % len(self.grid)])
        flips = (
            torch.randint(2, (3,), generator=self._generator()).tolist()
            if self.augment
            else (0, 0, 0)
        )
        return {"hr": crop_chw(self.images.array(k), y, x, self.patch_size, flips)}


class WholeImageDataset(Dataset):
    """Every usable image of ``source``, mod-cropped to ``scale``, channels kept (1 = grey, 3 = RGB).

    Item: ``{"hr": (C, H, W) uint8, "index": int, "name": str}``. Use with ``batch_size=1``.
    """

    def __init__(
        self,
        source: ImageSource,
        scale: int,
        in_memory: bool = True,
        cache: DecodedImageCache | None = None,
        skip_bad_images: bool = False,
    ) -> None:
        storage = "memory" if in_memory else ("cache" if cache is not None else "decode")
        self.images = HRImages(source, storage, cache, scale, scale, skip_bad_images)
        self.source, self.scale = source, scale

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        hwc = self.images.array(index)
        h, w = hwc.shape[:2]
        hwc = hwc[: h - h % self.scale, : w - w % self.scale]
        img = torch.from_numpy(np.array(hwc.transpose(2, 0, 1), order="C"))
        return {"hr": img, "index": index, "name": self.images.name(index)}
