"""File helpers shared by the writers of checkpoints, images and tables."""

from __future__ import annotations

import os
from pathlib import Path


def default_file_mode() -> int:
    """The mode a plain ``open(…, "w")`` gives a new file: ``0o666`` less the process umask
    (``0o644`` with the usual umask 022). ``tempfile.mkstemp`` makes ``0o600`` files instead, so
    atomic writers (temporary file + rename) set this mode before the rename."""
    mask = os.umask(0)  # the only portable way to read the umask: set it and put it back
    os.umask(mask)
    return 0o666 & ~mask


def numbered_free_stem(
    folder: Path, stem: str, suffixes: tuple[str, ...], separator: str = "-"
) -> str:
    """``stem``, or ``stem-2``, ``stem-3``, …: the first for which no ``<stem><suffix>`` of
    ``suffixes`` exists in ``folder`` (so a new set of files never overwrites an earlier one)."""
    candidate, n = stem, 1
    while any((folder / f"{candidate}{suffix}").exists() for suffix in suffixes):
        n += 1
        candidate = f"{stem}{separator}{n}"
    return candidate
