"""Image files for inference: decode keeping alpha and 16-bit precision, write PNGs atomically.

Training and scoring read images through :mod:`srlab.data.imageio` (colour only, 8 bits). Upscaling
a user's image must give back what came in, so here:

* grey, grey + alpha, RGB and RGBA are kept apart (colour in ``pixels``, alpha in ``alpha``);
  palette images become RGB(A), CMYK/YCbCr/LAB become RGB;
* 16-bit images stay 16-bit (``bit_depth=16``; written back as 16-bit PNGs). Pillow decodes 16-bit
  colour PNGs to 8 bits, so those are decoded twice by Pillow's own PNG decoder, once keeping the
  high and once the low byte of every sample (:func:`_read_png16_colour`); 16-bit colour TIFFs go
  through ``tifffile`` when it is installed;
* the EXIF orientation is applied;
* any decoding failure raises :class:`srlab.errors.ImageReadError` naming the file (and nothing
  else); warnings of a file that still decodes (e.g. corrupt EXIF) are logged with its name.

Pixels stay in their integer dtype (``uint8``/``uint16``) so that a large image costs 1-2 bytes per
sample in memory; the tiles of :mod:`srlab.inference.tiling` are converted to float one at a time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import tempfile
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srlab.errors import ImageReadError

log = logging.getLogger(__name__)

# What ``srlab.infer`` picks up from a folder.
INPUT_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def is_input_image(path: str | Path) -> bool:
    return Path(path).suffix.lower() in INPUT_EXTENSIONS


@dataclass
class ImageData:
    """A decoded image.

    Attributes:
        pixels: ``(H, W, C)`` colour samples, C = 1 (grey) or 3 (RGB), ``uint8`` or ``uint16``.
        alpha: ``(H, W)`` alpha of the same dtype, or ``None``.
        bit_depth: 8 or 16 (the dtype of ``pixels``).
        mode: Pillow's mode of the file (for messages).
    """

    pixels: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int
    mode: str

    @property
    def max_value(self) -> int:
        return 255 if self.bit_depth == 8 else 65535

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def channels(self) -> int:
        return int(self.pixels.shape[2])

    def describe(self) -> str:
        kind = {1: "grey", 3: "RGB"}[self.channels] + ("+alpha" if self.alpha is not None else "")
        return f"{self.width}x{self.height} {kind} {self.bit_depth}-bit"


# ---------------------------------------------------------------------------- reading
def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an ``(H, W, …)`` array, as ``ImageOps.exif_transpose``."""
    if orientation == 2:
        return arr[:, ::-1]
    if orientation == 3:
        return arr[::-1, ::-1]
    if orientation == 4:
        return arr[::-1]
    if orientation == 5:
        return arr.swapaxes(0, 1)
    if orientation == 6:
        return np.rot90(arr, k=-1)
    if orientation == 7:
        return arr[::-1, ::-1].swapaxes(0, 1)
    if orientation == 8:
        return np.rot90(arr, k=1)
    return arr


def _read_png16_colour(path: Path, rawmode: str) -> np.ndarray:
    """16-bit colour PNG -> ``(H, W, C)`` uint16 via Pillow's decoder, keeping all 16 bits.

    Pillow's unpackers for 16-bit RGB(A) keep one byte of each big-endian sample: ``RGB;16B``
    the high byte, ``RGB;16L`` (reading the pair the other way round) the low one. Grey + alpha
    (``LA;16B``, 4 bytes a pixel) is read as raw ``RGBA`` bytes, which are exactly its samples.
    """
    from PIL import Image, ImageFile

    def decode(raw: str) -> np.ndarray:
        with Image.open(path) as img:
            tile = img.tile[0]
            img.tile = [ImageFile._Tile(tile[0], tile[1], tile[2], raw)]
            img.load()
            return np.asarray(img)

    if rawmode == "LA;16B":
        b = decode("RGBA").astype(np.uint16)
        return np.stack([b[..., 0] << 8 | b[..., 1], b[..., 2] << 8 | b[..., 3]], axis=-1)
    high = decode(rawmode).astype(np.uint16)
    low = decode(rawmode.replace("16B", "16L")).astype(np.uint16)
    return high << 8 | low


def _split_alpha(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``(H, W, C)`` with C in 1..4 -> colour ``(H, W, 1|3)`` and alpha ``(H, W)`` or None."""
    if arr.ndim == 2:
        return arr[..., None], None
    if arr.shape[2] in (2, 4):
        return arr[..., :-1], arr[..., -1]
    return arr, None


def _decode(path: Path) -> ImageData:
    from PIL import Image

    with Image.open(path) as img:
        mode, fmt = img.mode, img.format
        # Read the decoder's raw mode first: getexif() may decode a PNG (to find an eXIf chunk).
        rawmode = img.tile[0][3] if img.tile and len(img.tile[0]) > 3 else ""
        rawmode = rawmode if isinstance(rawmode, str) else (rawmode[0] if rawmode else "")
        single_tile = len(img.tile) == 1
        orientation = int(img.getexif().get(0x0112, 1) or 1)
        if fmt == "PNG" and rawmode in ("RGB;16B", "RGBA;16B", "LA;16B") and single_tile:
            arr, bits = None, 16
        elif fmt == "TIFF" and ";16" in rawmode and mode in ("RGB", "RGBA"):
            arr, bits = None, 16
        else:
            img.load()
            arr, bits = _pil_to_array(img)
    if arr is None:
        if fmt == "PNG":
            arr = _read_png16_colour(path, rawmode)
        else:
            try:
                import tifffile

                arr = np.asarray(tifffile.imread(path))
                if arr.dtype != np.uint16:
                    raise ValueError(f"unexpected TIFF dtype {arr.dtype}")
            except ImportError:
                warnings.warn(
                    f"{path}: 16-bit colour TIFF read as 8 bits (install tifffile)", stacklevel=3
                )
                with Image.open(path) as img:
                    img.load()
                    arr, bits = _pil_to_array(img)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 2, 3, 4)):
        raise ValueError(f"unsupported sample layout {arr.shape} (multi-page or multi-channel?)")
    colour, alpha = _split_alpha(_orient(arr, orientation))
    return ImageData(_owned(colour), None if alpha is None else _owned(alpha), bits, mode)


def _owned(arr: np.ndarray) -> np.ndarray:
    """A contiguous, writable array (Pillow's buffers are read-only; torch wants writable ones)."""
    arr = np.ascontiguousarray(arr)
    return arr if arr.flags.writeable else arr.copy()


def _pil_to_array(img) -> tuple[np.ndarray, int]:
    """A loaded Pillow image -> (``(H, W[, C])`` uint8/uint16 array, bit depth)."""
    mode = img.mode
    if mode.startswith("I;16"):
        return np.asarray(img).astype(np.uint16), 16
    if mode == "I":
        return np.clip(np.asarray(img), 0, 65535).astype(np.uint16), 16
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        arr = arr if arr.max(initial=0) <= 1.0 else arr / 255.0
        return np.round(np.clip(arr, 0, 1) * 65535).astype(np.uint16), 16
    if mode in ("1", "L"):
        return np.asarray(img.convert("L")), 8
    if mode in ("LA", "La"):
        return np.asarray(img.convert("LA")), 8
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in img.info
        return np.asarray(img.convert("RGBA" if has_alpha else "RGB")), 8
    if mode in ("RGBA", "RGBa"):
        return np.asarray(img.convert("RGBA")), 8
    return np.asarray(img.convert("RGB")), 8  # RGB, CMYK, YCbCr, LAB, HSV, RGBX


def read_image_file(path: str | Path) -> ImageData:
    """Decode ``path`` keeping alpha and 16-bit precision (see the module doc).

    Raises:
        ImageReadError: the file is missing, not an image, truncated or otherwise undecodable.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            data = _decode(path)
    except FileNotFoundError as e:
        raise ImageReadError(f"{path}: no such file") from e
    except UnidentifiedImageError as e:
        raise ImageReadError(f"{path}: not an image file Pillow can identify") from e
    except Image.DecompressionBombError as e:
        raise ImageReadError(f"{path}: image too large to decode safely ({e})") from e
    except MemoryError:
        raise  # not the file's fault
    except Exception as e:  # noqa: BLE001 - damaged files raise OSError, struct.error, EOFError, …
        raise ImageReadError(f"{path}: cannot decode image ({type(e).__name__}: {e})") from e
    if data.pixels.shape[0] == 0 or data.pixels.shape[1] == 0:
        raise ImageReadError(f"{path}: decoded to an empty image")
    # Decoded despite a problem (Pillow's "Corrupt EXIF data", …): say which file it was.
    for message in dict.fromkeys(str(w.message) for w in caught):
        log.warning("%s: %s", path, message)
    return data


# ---------------------------------------------------------------------------- writing
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path
