"""Reading images, in one place: datasets, evaluation and inference all decode through here.

:func:`read_image_file` decodes any file Pillow reads into :class:`ImageData`, keeping what came in:
grey, grey + alpha, RGB and RGBA apart (colour in ``pixels``, alpha in ``alpha``), 16-bit samples
as 16 bits (Pillow decodes 16-bit colour PNGs to 8 bits, so those are decoded twice by Pillow's own
PNG decoder, once keeping the high and once the low byte of every sample; 16-bit colour TIFFs go
through ``tifffile`` when it is installed), the EXIF orientation applied; palette images become
RGB(A), CMYK/YCbCr/LAB become RGB. Inference upscales exactly that.

Training and scoring use colour only, in 8 bits: :func:`read_image_array` / :func:`read_image` are
``read_image_file`` with alpha dropped (the first such image is named in the log, once) and 16 bits
rounded to 8. :data:`IMAGE_EXTENSIONS` is the one list of file types every folder scan uses.

Any failure to read a file raises :class:`srlab.errors.ImageReadError` naming the file — never
another exception type — so callers can skip bad files with one ``except``; warnings of a file that
still decodes (e.g. corrupt EXIF) are logged with its name.

Its length: the one image reader of srlab (every bit depth, palette, alpha, EXIF orientation,
16-bit PNG); one module so that training, evaluation and inference can never read a file
differently.
"""

from __future__ import annotations

import logging
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from srlab.errors import ImageReadError

IMAGE_EXTENSIONS = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".tif",
    ".tiff",
    ".webp",
    ".ppm",
    ".pgm",
    ".gif",
)

_EXIF_ORIENTATION_TAG = 0x0112
# EXIF orientations 5-8 transpose the image: the decoded (H, W) is the stored (W, H).
_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)

log = logging.getLogger(__name__)
_alpha_noted = False  # one log line per process, not one per image
_alpha_lock = threading.Lock()  # the decoded-image cache decodes in threads


def is_image_file(path: str | Path) -> bool:
    """Whether ``path`` has an image extension (:data:`IMAGE_EXTENSIONS`, any case)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


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


# ---------------------------------------------------------------------------- decoding
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
        orientation = int(img.getexif().get(_EXIF_ORIENTATION_TAG, 1) or 1)
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
        # 32-bit integer images (16-bit PNG/TIFF decodes, some TIFFs): 16 bits unless every value
        # fits 8 bits, as such files usually hold 8-bit data.
        arr = np.asarray(img)
        if arr.max(initial=0) <= 255 and arr.min(initial=0) >= 0:
            return arr.astype(np.uint8), 8
        return np.clip(arr, 0, 65535).astype(np.uint16), 16
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


# ---------------------------------------------------------------------------- 8-bit colour
def to_uint8_colour(data: ImageData, path: str | Path = "") -> np.ndarray:
    """``ImageData`` -> ``(H, W, C)`` uint8 colour (C = 1 or 3): alpha dropped, 16 bits rounded."""
    if data.alpha is not None:
        _note_dropped_alpha(Path(path))
    pixels = data.pixels
    if data.bit_depth == 16:
        pixels = np.round(pixels.astype(np.float64) * (255.0 / 65535.0)).astype(np.uint8)
    return pixels


def read_image_array(path: str | Path) -> np.ndarray:
    """Decode ``path`` -> ``(H, W, C)`` uint8 array, C = 1 (grey) or 3 (RGB).

    Raises:
        ImageReadError: for a missing, unreadable, truncated or undecodable file (names the file).
    """
    return to_uint8_colour(read_image_file(path), path)


def read_image(path: str | Path) -> torch.Tensor:
    """Decode ``path`` -> ``(C, H, W)`` uint8 tensor, C = 1 (grey) or 3 (RGB)."""
    return torch.from_numpy(read_image_array(path)).permute(2, 0, 1).contiguous()


def _note_dropped_alpha(path: Path) -> None:
    global _alpha_noted
    if _alpha_noted:
        return
    with _alpha_lock:
        if _alpha_noted:
            return
        _alpha_noted = True
        log.info(
            "alpha channels are dropped (SR training and scoring use colour only); first: %s", path
        )


def image_size(path: str | Path) -> tuple[int, int]:
    """``(H, W)`` of the decoded image (EXIF rotation applied) from the file header, without decoding.

    Raises:
        ImageReadError: when the header cannot be read.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if img.format == "PNG":
                    # PNG's getexif() decodes the whole image to find an eXIf chunk after the
                    # pixels; only one placed before them (in img.info) is read here.
                    exif = Image.Exif()
                    if img.info.get("exif"):
                        exif.load(img.info["exif"])
                else:
                    exif = img.getexif()  # JPEG/TIFF/WebP: parsed with the header
                orientation = exif.get(_EXIF_ORIENTATION_TAG, 1)
    except FileNotFoundError as e:
        raise ImageReadError(f"{path}: no such file") from e
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001
        raise ImageReadError(f"{path}: cannot read image header ({type(e).__name__}: {e})") from e
    return (w, h) if orientation in _TRANSPOSING_ORIENTATIONS else (h, w)
