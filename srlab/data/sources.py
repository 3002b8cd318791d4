"""Where HR images come from: the embedded sample photos, any folder, named datasets.

A source is a sized, indexable collection of HR images: ``len(src)``, ``src.name(i)``,
``src.load(i) -> (C, H, W) uint8`` and ``src.file(i)`` (the backing file, for the decoded-image
cache). Constructing a source only checks that its data is there (so a missing dataset fails fast
with a clear message); decoding happens in ``load``. Sources that can download their data
(``download=True``) defer the check to :meth:`ImageSource.prepare`, which the DataModule calls once
per node (``prepare_data``) and which first use calls otherwise.

Its length: one small class per dataset (sample photos, folders, DIV2K, benchmark sets, T91,
BSD200, concatenation), each mostly its file layout and download record.
"""

from __future__ import annotations

from pathlib import Path

import torch

from srlab.data.download import RemoteArchive, fetch
from srlab.data.imageio import is_image_file, read_image
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

    def file(self, index: int) -> Path | None:
        """The file image ``index`` is decoded from (None: not file-backed, so never cached)."""
        return None

    def prepare(self) -> None:
        """Make the data available (download, verify, extract); a no-op for local data."""

    def describe(self) -> str:
        return f"{type(self).__name__}({len(self)} images)"


class SampleImages(ImageSource):
    """The natural photos embedded in scikit-image's wheel, split deterministically.

    Args:
        split: ``"train"`` (10 images) or ``"val"`` (chelsea, coffee, camera).
    """

    def __init__(self, split: str = "train") -> None:
        import skimage

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

    def __len__(self) -> int:
        return len(self.paths)

    def name(self, index: int) -> str:
        return self.paths[index].stem

    def file(self, index: int) -> Path:
        return self.paths[index]

    def load(self, index: int) -> torch.Tensor:
        return read_image(self.paths[index])


class FolderImages(ImageSource):
    """Every image file in ``root`` (sorted by name; ``recursive`` descends into subfolders).

    Any format Pillow reads: PNG, JPEG, BMP, TIFF, WebP, PPM/PGM, GIF. Hidden files and folders
    (``.srlab_cache``, ``.downloads``, ``.DS_Store``) are ignored.

    Args:
        root: folder of images.
        recursive: include subfolders.
        hint: extra text for the not-found message (how to obtain the data).
    """

    def __init__(self, root: str | Path, recursive: bool = False, hint: str = "") -> None:
        self.root = Path(root).expanduser()
        self.recursive = recursive
        self.hint = hint
        self._paths: list[Path] | None = None
        self._scan()

    def _scan(self) -> None:
        hint = f"\n{self.hint}" if self.hint else ""
        if not self.root.is_dir():
            raise DatasetNotFoundError(f"image folder not found: {self.root}{hint}")
        pattern = "**/*" if self.recursive else "*"
        self._paths = sorted(
            p
            for p in self.root.glob(pattern)
            if p.is_file()
            and is_image_file(p)
            and not any(part.startswith(".") for part in p.relative_to(self.root).parts)
        )
        if not self._paths:
            raise DatasetNotFoundError(f"no images in {self.root}{hint}")

    @property
    def paths(self) -> list[Path]:
        if self._paths is None:  # deferred by a downloading subclass
            self.prepare()
            self._scan()
        return self._paths

    def __len__(self) -> int:
        return len(self.paths)

    def name(self, index: int) -> str:
        return str(self.paths[index].relative_to(self.root).with_suffix(""))

    def file(self, index: int) -> Path:
        return self.paths[index]

    def load(self, index: int) -> torch.Tensor:
        return read_image(self.paths[index])


def find_folder(
    root: Path, names: tuple[str, ...], subfolders: tuple[str, ...] = ("",)
) -> Path | None:
    """The first ``root/<name>/<subfolder>`` that is a folder holding at least one image."""
    for name in names:
        for sub in subfolders:
            folder = root / name / sub if sub else root / name
            if folder.is_dir() and any(is_image_file(p) for p in folder.iterdir()):
                return folder
    return None


DIV2K_URL = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"
# Official archives (Agustsson & Timofte, CVPRW 2017). The MD5s are the ones several public
# dataset loaders verify (e.g. torchSR); the sizes are the server's Content-Length as recorded in
# public download scripts. A mismatch means a truncated or altered download.
DIV2K_ARCHIVES: dict[str, RemoteArchive] = {
    "train": RemoteArchive(
        url=DIV2K_URL + "DIV2K_train_HR.zip",
        size=3_530_603_713,
        checksum="md5:bdc2d9338d4e574fe81bf7d158758658",
    ),
    "valid": RemoteArchive(
        url=DIV2K_URL + "DIV2K_valid_HR.zip",
        size=448_993_893,
        checksum="md5:9fcdda83005c5e5997799b69f955ff88",
    ),
}


class DIV2K(FolderImages):
    """DIV2K HR images (Agustsson & Timofte, 2017): 800 train, 100 valid PNGs of about 2K pixels.

    Looks for ``<root>/DIV2K/DIV2K_{train,valid}_HR/`` or ``<root>/DIV2K_{train,valid}_HR/``.
    With ``download=True`` a missing split is downloaded from the official server (resumable,
    MD5- and size-checked) and extracted under ``<root>/DIV2K/``.

    Args:
        root: the data root (``paths.data_dir``).
        split: ``"train"`` or ``"valid"``.
        download: download the split's archive when it is missing.
        mirror: base URL of a mirror holding the same ``DIV2K_*_HR.zip`` files (same checksums).
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        download: bool = False,
        mirror: str | None = None,
    ) -> None:
        if split not in ("train", "valid"):
            raise ValueError(f"DIV2K split must be 'train' or 'valid', got {split!r}")
        self.data_root = Path(root).expanduser()
        self.split, self.download, self.mirror = split, download, mirror
        self.folder_name = f"DIV2K_{split}_HR"
        found = self._find()
        if found is not None:
            super().__init__(found)
        elif download:
            self.root, self.recursive, self.hint = (
                self.data_root / "DIV2K" / self.folder_name,
                False,
                "",
            )
            self._paths = None  # downloaded by prepare() (DataModule.prepare_data or first use)
        else:
            raise DatasetNotFoundError(
                f"DIV2K not found: expected {self._candidates()[0]}/0001.png … "
                f"(or {self._candidates()[1]}).\n"
                f"Download it with data.download=true, or get {self.folder_name}.zip from {DIV2K_URL} "
                f"and unzip it under {self.data_root / 'DIV2K'}, or point srlab at an existing copy "
                "with paths.data_dir=/path/to/data (or the SRLAB_DATA_DIR environment variable)."
            )

    def _candidates(self) -> list[Path]:
        return [self.data_root / "DIV2K" / self.folder_name, self.data_root / self.folder_name]

    def _find(self) -> Path | None:
        return next((c for c in self._candidates() if c.is_dir() and any(c.glob("*.png"))), None)

    def prepare(self) -> None:
        if self._find() is not None:
            return
        archive = DIV2K_ARCHIVES[self.split]
        if self.mirror:
            archive = RemoteArchive(
                self.mirror.rstrip("/") + "/" + archive.name, archive.size, archive.checksum
            )
        fetch(archive, self.data_root / "DIV2K", downloads=self.data_root / ".downloads")
        found = self._find()
        if found is None:
            raise DatasetNotFoundError(
                f"{archive.name} was extracted but {self._candidates()[0]} holds no PNG images"
            )
        self.root = found


# Folder names people use for the standard benchmark sets (first = canonical).
BENCHMARK_ALIASES: dict[str, tuple[str, ...]] = {
    "Set5": ("Set5", "set5"),
    "Set14": ("Set14", "set14"),
    "BSD100": ("BSD100", "B100", "bsd100", "b100", "BSDS100"),
    "Urban100": ("Urban100", "urban100"),
    "Manga109": ("Manga109", "manga109"),
}

# The benchmark bundle of EDSR (Lim et al., 2017), the de-facto archive of the four classic test
# sets: benchmark/{Set5,Set14,B100,Urban100}/HR/*.png (+ LR_bicubic, unused: srlab makes its own LR).
# MD5 as listed by torchSR's dataset loader. Manga109 has no redistributable archive (its licence
# requires a request to the authors: http://www.manga109.org).
EDSR_BENCHMARK_ARCHIVE = RemoteArchive(
    url="https://cv.snu.ac.kr/research/EDSR/benchmark.tar",
    checksum="md5:4ace41d33c2384b97e6b320cd0afd6ba",
)
EDSR_BENCHMARK_SETS = ("Set5", "Set14", "BSD100", "Urban100")


class BenchmarkSet(FolderImages):
    """A benchmark test set (HR images only) found under the data root by folder name.

    Looks for ``<root>/<name>``, its aliases (``B100`` for ``BSD100``, …), an ``HR/`` subfolder
    inside it, and the same under ``<root>/benchmark/`` (EDSR's bundle layout). LR images are
    always made by the protocol's bicubic, never read. With ``download=True``, Set5, Set14, BSD100
    and Urban100 are fetched from EDSR's benchmark archive when missing.

    Args:
        root: the data root (``paths.data_dir``).
        name: ``Set5``, ``Set14``, ``BSD100``/``B100``, ``Urban100``, ``Manga109`` or any folder name.
        download: download the set when it is missing (the four sets of EDSR's archive).
    """

    def __init__(self, root: str | Path, name: str, download: bool = False) -> None:
        self.data_root = Path(root).expanduser()
        canonical = next((k for k, v in BENCHMARK_ALIASES.items() if name in v or name == k), name)
        self.set_name = canonical
        self.names = BENCHMARK_ALIASES.get(canonical, (name,))
        found = self._find()
        if found is not None:
            super().__init__(found)
        elif download and canonical in EDSR_BENCHMARK_SETS:
            self.root, self.recursive, self.hint = (
                self.data_root / "benchmark" / self.names[0],
                False,
                "",
            )
            self._paths = None
        else:
            how = (
                "data.download=true fetches it, or point"
                if canonical in EDSR_BENCHMARK_SETS and not download
                else "Point"
            )
            raise DatasetNotFoundError(
                f"benchmark set {name!r} not found under {self.data_root} (looked for "
                f"{', '.join(str(self.data_root / n) for n in self.names)}).\n"
                f"{how} srlab at a folder holding it with paths.data_dir=/path/to/data "
                "(or SRLAB_DATA_DIR), e.g. paths.data_dir=../shared/data."
            )

    def _find(self) -> Path | None:
        return find_folder(self.data_root, self.names, ("HR", "")) or find_folder(
            self.data_root / "benchmark", self.names, ("HR", "")
        )

    def prepare(self) -> None:
        if self._find() is None:
            fetch(EDSR_BENCHMARK_ARCHIVE, self.data_root, downloads=self.data_root / ".downloads")
        found = self._find()
        if found is None:
            raise DatasetNotFoundError(
                f"{EDSR_BENCHMARK_ARCHIVE.name} holds no {self.set_name} images"
            )
        self.root = found


class NamedTrainingSet(FolderImages):
    """A named image set found under the data root by one of its usual folder names.

    Subclasses set ``NAMES`` (folder names tried in order, each with or without ``HR/``) and
    ``EXPECTED`` (what the not-found message shows, e.g. ``"t1.png … (91 images)"``).

    Args:
        root: the data root (``paths.data_dir``).
    """

    NAMES: tuple[str, ...] = ()
    EXPECTED = ""

    def __init__(self, root: str | Path) -> None:
        root = Path(root).expanduser()
        found = find_folder(root, self.NAMES, ("HR", ""))
        if found is None:
            raise DatasetNotFoundError(
                f"{self.NAMES[0]} not found: expected {root / self.NAMES[0]}/{self.EXPECTED}.\n"
                "Point srlab at a folder holding it with paths.data_dir=/path/to/data "
                "(or SRLAB_DATA_DIR), e.g. paths.data_dir=../shared/data."
            )
        super().__init__(found)


class T91(NamedTrainingSet):
    """The 91 training images of Yang et al. (2010) used by SRCNN, FSRCNN and VDSR.

    Looks for ``<root>/T91`` (or ``t91``, ``91-image``, ``yang91``, with or without ``HR/``).
    """

    NAMES = ("T91", "t91", "91-image", "yang91")
    EXPECTED = "t1.png … (91 images)"


class BSD200(NamedTrainingSet):
    """The 200 train + val images of BSDS300 (Martin et al., ICCV 2001), a training set.

    With :class:`T91` it forms the "291" training set of VDSR and later SR papers. It shares no
    image with the BSDS300 test split (the BSD100 / B100 benchmark). Looks for ``<root>/BSD200``
    (or ``bsd200``, ``BSDS200``, with or without ``HR/``).
    """

    NAMES = ("BSD200", "bsd200", "BSDS200", "bsds200")
    EXPECTED = "<id>.png … (200 images)"


class ConcatSources(ImageSource):
    """Several sources as one, in order (e.g. T91 + BSD200 = the "291" training set).

    Image names are prefixed with the part's class name (``T91/t1``, ``BSD200/2092``) so they stay
    unique across parts.

    Args:
        sources: the parts, concatenated in order.
    """

    def __init__(self, sources: list[ImageSource]) -> None:
        self.sources = list(sources)
        if not self.sources:
            raise ValueError("ConcatSources needs at least one source")
        # (part, index within the part) of every image.
        self._where = [(s, i) for s in self.sources for i in range(len(s))]

    def prepare(self) -> None:
        for source in self.sources:
            source.prepare()
        self._where = [(s, i) for s in self.sources for i in range(len(s))]

    def __len__(self) -> int:
        return len(self._where)

    def name(self, index: int) -> str:
        source, i = self._where[index]
        return f"{type(source).__name__}/{source.name(i)}"

    def file(self, index: int) -> Path | None:
        source, i = self._where[index]
        return source.file(i)

    def load(self, index: int) -> torch.Tensor:
        source, i = self._where[index]
        return source.load(i)

    def describe(self) -> str:
        parts = " + ".join(s.describe() for s in self.sources)
        return f"{parts} = {len(self)} images"
