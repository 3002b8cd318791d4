"""Downloading dataset archives: resumable, verified, atomically renamed, safely extracted.

``fetch(archive, dest)`` is the one entry point datasets use:

1. download ``archive.url`` to ``<downloads>/<name>.part``, resuming a partial file with an HTTP
   ``Range`` request (a server that ignores ``Range`` restarts the transfer from zero) and showing a
   tqdm progress bar;
2. check its size and checksum (``md5:…`` / ``sha256:…``) *before* renaming it to ``<name>``, so a
   corrupt file never takes the archive's name; a mismatch deletes it and raises
   :class:`DownloadError`;
3. extract into a temporary folder inside ``dest`` after checking every member (no absolute paths,
   no ``..``, no links or device files: :class:`UnsafeArchiveError` before anything is written), then
   move the extracted entries into ``dest``.

Only the standard library is used for the transfer (``urllib``), so there is nothing to configure
beyond the usual ``HTTPS_PROXY``/``HTTP_PROXY`` environment variables.

Its length: download with resume and checksums plus safe archive extraction (path traversal, links,
zip and tar members); the security checks belong next to the extraction they guard.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import stat
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from srlab.errors import SrlabError

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
USER_AGENT = "srlab-downloader/1 (+https://github.com/)"


class DownloadError(SrlabError):
    """A download failed, or its size/checksum does not match (the message says what to do)."""


class UnsafeArchiveError(SrlabError):
    """An archive member would be written outside the target folder (or is a link/device)."""


@dataclass(frozen=True)
class RemoteArchive:
    """An archive at ``url`` with its expected size in bytes and checksum (``"md5:<hex>"``)."""

    url: str
    size: int | None = None
    checksum: str | None = None
    filename: str | None = None

    @property
    def name(self) -> str:
        return self.filename or PurePosixPath(self.url.split("?", 1)[0]).name


def file_checksum(path: Path, algorithm: str = "md5") -> str:
    """Hex digest of ``path`` (read in 1 MiB chunks)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, size: int | None, checksum: str | None) -> None:
    """Raise :class:`DownloadError` unless ``path`` has ``size`` bytes and ``checksum``."""
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise DownloadError(f"{path.name}: size {actual_size} bytes, expected {size}")
    if checksum:
        algorithm, _, expected = checksum.partition(":")
        if not expected:
            raise ValueError(
                f"checksum must look like 'md5:<hex>' or 'sha256:<hex>', got {checksum!r}"
            )
        actual = file_checksum(path, algorithm)
        if actual.lower() != expected.lower():
            raise DownloadError(f"{path.name}: {algorithm} {actual}, expected {expected}")


def _progress(total: int | None, initial: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    # disable=None: shown on a terminal, silent in logs and CI.
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        dynamic_ncols=True,
        disable=None if enabled else True,
    )


def _transfer(url: str, part: Path, total: int | None, timeout: float, progress: bool) -> None:
    """Append the rest of ``url`` to ``part`` (Range request from its current size)."""
    start = part.stat().st_size if part.exists() else 0
    if total is not None and start == total:
        return  # a previous run finished the transfer but not the verification
    if total is not None and start > total:
        part.unlink()  # longer than the archive: not a prefix of it
        start = 0
    headers = {"User-Agent": USER_AGENT}
    if start:
        headers["Range"] = f"bytes={start}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and start:  # nothing left to send: the .part is complete (verify decides)
            return
        raise
    with response:
        if start and response.status != 206:
            log.info("%s: server ignored the Range request; restarting the download", url)
            start = 0
        elif start:
            content_range = response.headers.get("Content-Range", "")
            if not content_range.startswith(f"bytes {start}-"):
                raise DownloadError(
                    f"{url}: unexpected Content-Range {content_range!r} for a resume at {start}"
                )
        length = response.headers.get("Content-Length")
        expected_total = total if total is not None else (start + int(length) if length else None)
        mode = "ab" if start else "wb"
        desc = part.name[: -len(".part")]
        with open(part, mode) as f, _progress(expected_total, start, desc, progress) as bar:
            for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                f.write(chunk)
                bar.update(len(chunk))
        if length is not None and part.stat().st_size != start + int(length):
            raise DownloadError(
                f"{url}: connection closed early ({part.stat().st_size} bytes so far)"
            )


def download(
    archive: RemoteArchive,
    folder: str | Path,
    retries: int = 3,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Download ``archive`` into ``folder`` (resuming ``<name>.part``); returns the verified file.

    An already verified ``folder/<name>`` is returned as is. A connection that drops mid-transfer
    is retried ``retries`` times from where it stopped; the ``.part`` file survives a crash or
    Ctrl-C, and the next call resumes it.

    Raises:
        DownloadError: the transfer keeps failing, or the size/checksum does not match (the bad
            file is deleted: it is never renamed to the archive's name).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / archive.name
    part = folder / (archive.name + ".part")
    if final.exists():
        try:
            verify(final, archive.size, archive.checksum)
            return final
        except DownloadError:
            log.warning("%s does not match its checksum; downloading it again", final)
            final.unlink()
    last_error: Exception | None = None
    for attempt in range(retries + 1):
        try:
            _transfer(archive.url, part, archive.size, timeout, progress)
            last_error = None
            break
        except (urllib.error.URLError, http.client.HTTPException, OSError, DownloadError) as e:
            last_error = e
            if isinstance(e, urllib.error.HTTPError) and 400 <= e.code < 500 and e.code != 408:
                break  # not found / forbidden: retrying will not help
            log.warning(
                "download of %s interrupted (%s); attempt %d/%d",
                archive.url,
                e,
                attempt + 1,
                retries + 1,
            )
    if last_error is not None:
        kept = (
            f"; {part.stat().st_size} bytes kept in {part} and resumed next time"
            if part.exists()
            else ""
        )
        raise DownloadError(f"could not download {archive.url}: {last_error}{kept}") from last_error
    try:
        verify(part, archive.size, archive.checksum)
    except DownloadError as e:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"downloaded {archive.url} but it is corrupt ({e}); the file was deleted. "
            "Run again to retry, or download it by hand and unzip it into the data root."
        ) from e
    os.replace(part, final)  # atomic: `final` only ever names a verified archive
    return final


# ---------------------------------------------------------------------------------- extraction
def _member_is_unsafe(name: str) -> str | None:
    """Why the member path ``name`` would escape the target folder, or None when it is safe."""
    if not name or "\x00" in name:
        return "empty or NUL in name"
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    if (
        posix.is_absolute()
        or windows.is_absolute()
        or windows.drive
        or name.startswith(("/", "\\"))
    ):
        return "absolute path"
    if ".." in posix.parts or ".." in windows.parts:
        return "'..' in path"
    return None


def _check_members(entries: Iterable[tuple[str, str | None]], archive: Path) -> None:
    """``entries`` = (member name, reason it is unsafe for its type or None); raise on the first."""
    for name, type_problem in entries:
        problem = _member_is_unsafe(name) or type_problem
        if problem:
            raise UnsafeArchiveError(
                f"{archive.name}: refusing to extract member {name!r} ({problem}); nothing was extracted"
            )


def _zip_member_problem(info: zipfile.ZipInfo) -> str | None:
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return "special file"
    return None


def _tar_member_problem(info: tarfile.TarInfo) -> str | None:
    if info.issym() or info.islnk():
        return "link"
    if not (info.isfile() or info.isdir()):
        return "special file"
    return None


def safe_extract(archive: str | Path, dest: str | Path) -> list[Path]:
    """Extract a zip or tar ``archive`` into ``dest``; returns the top-level entries written.

    Every member is checked first: an absolute path, a ``..`` component, a symbolic/hard link or a
    device file makes the whole archive refused (:class:`UnsafeArchiveError`) with nothing written.
    Members are extracted into a temporary folder inside ``dest`` and then moved into place, so an
    interrupted extraction leaves no half-written dataset folder behind; existing files in ``dest``
    are kept (only missing entries are added).
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".srlab-extract-", dir=dest))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                infos = zf.infolist()
                _check_members(((i.filename, _zip_member_problem(i)) for i in infos), archive)
                for info in infos:
                    target = staging / PurePosixPath(info.filename.replace("\\", "/"))
                    if info.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst, CHUNK_BYTES)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                _check_members(((m.name, _tar_member_problem(m)) for m in members), archive)
                for member in members:
                    target = staging / PurePosixPath(member.name)
                    if member.isdir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    src = tf.extractfile(member)
                    with src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst, CHUNK_BYTES)
        else:
            raise DownloadError(f"{archive}: not a zip or tar archive")
        written = []
        for entry in sorted(staging.iterdir()):
            _merge_move(entry, dest / entry.name)
            written.append(dest / entry.name)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _merge_move(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst``; into an existing folder, move only the entries it lacks."""
    if not dst.exists():
        os.replace(src, dst)
    elif src.is_dir() and dst.is_dir():
        for child in src.iterdir():
            _merge_move(child, dst / child.name)


def fetch(
    archive: RemoteArchive,
    dest: str | Path,
    downloads: str | Path | None = None,
    keep_archive: bool = False,
    progress: bool = True,
    retries: int = 3,
) -> list[Path]:
    """Download (resuming), verify and safely extract ``archive`` into ``dest``.

    Args:
        archive: URL, size and checksum.
        dest: folder to extract into (e.g. the data root).
        downloads: where the archive and its ``.part`` live (default ``dest/.downloads``).
        keep_archive: keep the archive after a successful extraction.
    """
    dest = Path(dest)
    downloads = Path(downloads) if downloads is not None else dest / ".downloads"
    log.info("downloading %s into %s", archive.url, dest)
    path = download(archive, downloads, retries=retries, progress=progress)
    written = safe_extract(path, dest)
    if not keep_archive:
        path.unlink(missing_ok=True)
        try:
            downloads.rmdir()
        except OSError:
            pass
    return written
