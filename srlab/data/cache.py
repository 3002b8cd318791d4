"""The decoded-image cache: each source image decoded once to a uint8 ``.npy`` file, memory-mapped.

Decoding a 2K PNG takes ~50-100 ms; cutting a 96x96 crop out of a memory-mapped array takes
microseconds. So large training sets (DIV2K) are decoded once, on first use, into
``<cache_dir>/<stem>-<path hash>-<version hash>.npy`` (``(H, W, C)`` uint8, C = 1 or 3), and the
DataLoader workers ``np.load(..., mmap_mode="r")`` them: the OS page cache holds the pixels once for
all workers, and a crop reads only the rows it needs. No preparation step, no LMDB.

The version hash covers the file's resolved path, size and modification time, so editing or
replacing a source image rebuilds its entry (and deletes the stale one); the cache folder can be
deleted at any time. Entries are written to a temporary file and renamed, so concurrent builders
(several DDP ranks, two runs) never see half-written files.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from srlab.data.imageio import read_image_array
from srlab.errors import ImageReadError

log = logging.getLogger(__name__)

CACHE_FORMAT_VERSION = "1"


class DecodedImageCache:
    """uint8 ``(H, W, C)`` arrays of image files, stored as ``.npy`` under ``root``.

    Args:
        root: the cache folder (created on demand).
        threads: decoding threads for :meth:`build` (Pillow releases the GIL while decoding);
            default: the CPU count, at most 8.
        progress: show a tqdm progress bar while building.
    """

    def __init__(self, root: str | Path, threads: int | None = None, progress: bool = True) -> None:
        self.root = Path(root).expanduser()
        self.threads = threads or min(8, os.cpu_count() or 1)
        self.progress = progress

    def entry(self, path: str | Path) -> Path:
        """The cache file for image ``path`` in its current version (path, size, mtime)."""
        path = Path(path).resolve()
        st = path.stat()
        path_key = hashlib.sha1(str(path).encode()).hexdigest()[:16]
        version = hashlib.sha1(
            f"{CACHE_FORMAT_VERSION}|{st.st_size}|{st.st_mtime_ns}".encode()
        ).hexdigest()[:10]
        return self.root / f"{path.stem[:40]}-{path_key}-{version}.npy"

    def _write(self, image_path: Path, entry: Path) -> None:
        array = read_image_array(image_path)
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npy", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, array, allow_pickle=False)
            os.replace(tmp, entry)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        # Older versions of the same source file are stale now.
        path_key = entry.name.rsplit("-", 2)[1]
        for stale in self.root.glob(f"*-{path_key}-*.npy"):
            if stale != entry:
                stale.unlink(missing_ok=True)

    def build(
        self,
        paths: Sequence[str | Path],
        skip_bad_images: bool = False,
        desc: str = "caching images",
    ) -> list[Path | None]:
        """Cache files for ``paths``, decoding (in threads, with a progress bar) those not cached yet.

        Returns one entry per path; ``None`` for an unreadable image when ``skip_bad_images``.

        Raises:
            ImageReadError: an image cannot be decoded (and ``skip_bad_images`` is false).
        """
        entries: list[Path | None] = []
        missing: list[int] = []
        for i, p in enumerate(paths):
            try:
                entries.append(self.entry(p))
            except OSError as e:
                if not skip_bad_images:
                    raise ImageReadError(f"{p}: cannot read file ({e})") from e
                log.warning("skipping %s: cannot read file (%s)", p, e)
                entries.append(None)
                continue
            if not entries[-1].is_file():
                missing.append(i)
        if not missing:
            return entries
        from tqdm.auto import tqdm

        log.info("decoding %d images into the cache %s (once)", len(missing), self.root)
        with ThreadPoolExecutor(self.threads) as pool:
            futures = {i: pool.submit(self._write, Path(paths[i]), entries[i]) for i in missing}
            bar = tqdm(
                total=len(missing), desc=desc, unit="img", disable=None if self.progress else True
            )
            with bar:
                for i, future in futures.items():
                    try:
                        future.result()
                    except ImageReadError as e:
                        if not skip_bad_images:
                            for f in futures.values():
                                f.cancel()
                            raise
                        log.warning("skipping %s", e)
                        entries[i] = None
                    bar.update(1)
        return entries


def open_npy_mmap(path: str | Path) -> np.ndarray:
    """Memory-map the ``.npy`` array at ``path`` read-only, holding no file descriptor if possible.

    ``np.load(mmap_mode="r")`` keeps one descriptor per map (Python's mmap dups it); thousands of
    cached images per worker would hit the open-files limit. Python >= 3.13 maps without keeping the
    descriptor (``trackfd=False``); older Pythons raise the soft limit to the hard one once.
    """
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        offset = f.tell()
        count = int(np.prod(shape, dtype=np.int64))
        if count == 0:
            return np.zeros(shape, dtype)
        if sys.version_info >= (3, 13):
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ, trackfd=False)
        else:
            _raise_open_files_limit()
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    array = np.frombuffer(mm, dtype=dtype, count=count, offset=offset)
    return array.reshape(shape, order="F" if fortran else "C")


_limit_raised = False


def _raise_open_files_limit() -> None:
    global _limit_raised
    if _limit_raised:
        return
    _limit_raised = True
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or hard > soft:
            resource.setrlimit(
                resource.RLIMIT_NOFILE,
                (hard if hard != resource.RLIM_INFINITY else max(soft, 65536), hard),
            )
    except (ImportError, ValueError, OSError):  # Windows / not permitted: keep the default limit
        pass


class MemmapImages(Sequence):
    """Read-only ``(H, W, C)`` uint8 arrays memory-mapped from cache files, opened lazily.

    Each process (DataLoader worker) opens its own maps on first access; pickling sends only the
    file names (a pickled ``np.memmap`` would copy the whole image).
    """

    def __init__(self, files: Sequence[str | Path]) -> None:
        self.files = [str(f) for f in files]
        self._arrays: list[np.ndarray | None] = [None] * len(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> np.ndarray:
        array = self._arrays[index]
        if array is None:
            array = self._arrays[index] = open_npy_mmap(self.files[index])
        return array

    def shape(self, index: int) -> tuple[int, ...]:
        return tuple(self[index].shape)

    def __getstate__(self) -> dict:
        return {"files": self.files}

    def __setstate__(self, state: dict) -> None:
        self.files = state["files"]
        self._arrays = [None] * len(self.files)
