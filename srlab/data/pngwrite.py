"""Writing PNG files atomically (8 or 16 bits; grey, grey + alpha, RGB, RGBA).

A file appears under its name complete or not at all: it is written to a temporary file in the same
folder (``.<name>.<random>.tmp``) and moved into place with ``os.replace``. Pillow cannot write
16-bit colour PNGs, so :func:`encode_png16` writes those chunks itself.
"""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

from srlab.utils.files import default_file_mode


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def encode_png16(arr: np.ndarray, level: int = 6) -> bytes:
    """``(H, W, C)`` uint16, C in 1..4 -> a 16-bit PNG (grey, grey+alpha, RGB, RGBA).

    Pillow cannot write 16-bit colour PNGs, so this writes the few chunks itself, every row
    with PNG's 'Sub' filter (computed for all rows at once).
    """
    if arr.ndim == 2:
        arr = arr[..., None]
    h, w, c = arr.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    rows = np.ascontiguousarray(arr.astype(">u2")).view(np.uint8).reshape(h, w * c * 2)
    bpp = 2 * c
    filtered = rows.copy()
    filtered[:, bpp:] = rows[:, bpp:] - rows[:, :-bpp]  # uint8 arithmetic wraps mod 256, as PNG's
    raw = np.concatenate([np.ones((h, 1), np.uint8), filtered], axis=1)  # filter type 1 = Sub
    header = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw.tobytes(), level))
        + _png_chunk(b"IEND", b"")
    )


def write_png(path: str | Path, arr: np.ndarray) -> Path:
    """Write ``(H, W, C)`` (C = 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA) ``uint8``/``uint16`` as PNG.

    The file appears atomically: it is written to a temporary file in the same folder and moved
    into place with ``os.replace``, so a crash never leaves a half-written PNG under its name.
    """
    from PIL import Image

    path = Path(path)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.dtype not in (np.uint8, np.uint16) or arr.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"write_png needs (H, W, 1..4) uint8/uint16, got {arr.dtype} {arr.shape}")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if arr.dtype == np.uint16:
                f.write(encode_png16(arr))
            else:
                mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[arr.shape[2]]
                img = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr, mode=mode)
                img.save(f, format="PNG")
        os.chmod(tmp, default_file_mode())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path
