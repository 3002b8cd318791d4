"""Where HR images come from: the embedded sample photos, any folder, named datasets.

A source is a sized, indexable collection of HR images: ``len(src)``, ``src.name(i)`` and
``src.load(i) -> (C, H, W) uint8``. Constructing a source only checks that its data is there (so a
missing dataset fails fast with a clear message); decoding happens in ``load``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from srlab.data.imageio import is_image_file, pil_to_array, read_image
from srlab.errors import DatasetNotFoundError

# Natural photos shipped inside scikit-image's wheel (no download). The split is fixed so that
# validation numbers are comparable across runs; validation holds one RGB animal, one RGB still
# life and one greyscale photo (the grey path is exercised on every run).
SAMPLE_TRAIN = (
    "astronaut.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "ihc.png",
    "brick.png",
    "grass.png",
    "gravel.png",
    "coins.png",
    "moon.png",
    "hubble_deep_field.jpg",
)
SAMPLE_VAL = ("chelsea.png", "coffee.png", "camera.png")


class ImageSource:
    """Base class of HR image collections."""

    def __len__(self) -> int:
        raise NotImplementedError

    def name(self, index: int) -> str:
        raise NotImplementedError

    def load(self, index: int) -> torch.Tensor:
        """Image ``index`` as ``(C, H, W)`` uint8, C = 1 or 3."""
        raise NotImplementedError

    def describe(self) -> str:
        return f"{type(self).__name__}({len(self)} images)"


class SampleImages(ImageSource):
    """The natural photos embedded in scikit-image's wheel, split deterministically.

    Args:
        split: ``"train"`` (10 images) or ``"val"`` (chelsea, coffee, camera).
    """

    def __init__(self, split: str = "train") -> None:
        import skimage
        from PIL import Image

        names = {"train": SAMPLE_TRAIN, "val": SAMPLE_VAL}.get(split)
        if names is None:
            raise ValueError(f"SampleImages split must be 'train' or 'val', got {split!r}")
        folder = Path(skimage.__file__).parent / "data"
        self.paths = [folder / n for n in names]
        missing = [str(p) for p in self.paths if not p.is_file()]
        if missing:
            raise DatasetNotFoundError(
                f"scikit-image's sample photos are missing ({', '.join(missing)}); "
                "reinstall scikit-image (`pip install --force-reinstall scikit-image`)."
            )
        self._open = Image.open

    def __len__(self) -> int:
        return len(self.paths)

    def name(self, index: int) -> str:
        return self.paths[index].stem

    def load(self, index: int) -> torch.Tensor:
        with self._open(self.paths[index]) as img:
            arr = pil_to_array(img)
        return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).contiguous()


class FolderImages(ImageSource):
    """Every image file in ``root`` (sorted by name; ``recursive`` descends into subfolders).

    Args:
        root: folder of images (PNG, JPEG, BMP, TIFF, WebP, …).
        recursive: include subfolders.
        hint: extra text for the not-found message (how to obtain the data).
    """

    def __init__(self, root: str | Path, recursive: bool = False, hint: str = "") -> None:
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise DatasetNotFoundError(
                f"image folder not found: {self.root}" + (f"\n{hint}" if hint else "")
            )
        pattern = "**/*" if recursive else "*"
        self.paths = sorted(p for p in self.root.glob(pattern) if p.is_file() and is_image_file(p))
        if not self.paths:
            raise DatasetNotFoundError(
                f"no images in {self.root}" + (f"\n{hint}" if hint else "")
            )

    def __len__(self) -> int:
        return len(self.paths)

    def name(self, index: int) -> str:
        return str(self.paths[index].relative_to(self.root).with_suffix(""))

    def load(self, index: int) -> torch.Tensor:
        return read_image(self.paths[index])


DIV2K_URL = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"


class DIV2K(FolderImages):
    """DIV2K HR images (Agustsson & Timofte, 2017): 800 train, 100 valid PNGs of about 2K pixels.

    Looks for ``<root>/DIV2K/DIV2K_{train,valid}_HR/`` or ``<root>/DIV2K_{train,valid}_HR/``.

    Args:
        root: the data root (``paths.data_dir``).
        split: ``"train"`` or ``"valid"``.
    """

    def __init__(self, root: str | Path, split: str = "train") -> None:
        if split not in ("train", "valid"):
            raise ValueError(f"DIV2K split must be 'train' or 'valid', got {split!r}")
        root = Path(root).expanduser()
        folder = f"DIV2K_{split}_HR"
        candidates = [root / "DIV2K" / folder, root / folder]
        found = next((c for c in candidates if c.is_dir()), None)
        if found is None:
            raise DatasetNotFoundError(
                f"DIV2K not found: expected {candidates[0]}/0001.png … (or {candidates[1]}).\n"
                f"Get it from {DIV2K_URL} ({folder}.zip) and unzip it under {root / 'DIV2K'}, "
                "or point srlab at an existing copy with paths.data_dir=/path/to/data "
                "(or the SRLAB_DATA_DIR environment variable)."
            )
        super().__init__(found)


# Folder names people use for the standard benchmark sets (first = canonical).
BENCHMARK_ALIASES: dict[str, tuple[str, ...]] = {
    "Set5": ("Set5", "set5"),
    "Set14": ("Set14", "set14"),
    "BSD100": ("BSD100", "B100", "bsd100", "b100", "BSDS100"),
    "Urban100": ("Urban100", "urban100"),
    "Manga109": ("Manga109", "manga109"),
}


class BenchmarkSet(FolderImages):
    """A benchmark test set (HR images only) found under the data root by folder name.

    Looks for ``<root>/<name>``, its aliases (``B100`` for ``BSD100``, …), and an ``HR/``
    subfolder inside it. LR images are always made by the protocol's bicubic, never read.

    Args:
        root: the data root (``paths.data_dir``).
        name: ``Set5``, ``Set14``, ``BSD100``/``B100``, ``Urban100``, ``Manga109`` or any folder name.
    """

    def __init__(self, root: str | Path, name: str) -> None:
        root = Path(root).expanduser()
        canonical = next((k for k, v in BENCHMARK_ALIASES.items() if name in v or name == k), name)
        names = BENCHMARK_ALIASES.get(canonical, (name,))
        candidates = [root / n / sub for n in names for sub in ("HR", "")]
        found = next((c for c in candidates if c.is_dir() and any(is_image_file(p) for p in c.iterdir())), None)
        if found is None:
            raise DatasetNotFoundError(
                f"benchmark set {name!r} not found under {root} (looked for "
                f"{', '.join(str(root / n) for n in names)}).\n"
                "Point srlab at a folder holding it with paths.data_dir=/path/to/data "
                "(or SRLAB_DATA_DIR), e.g. paths.data_dir=../shared/data."
            )
        super().__init__(found)
        self.set_name = canonical
