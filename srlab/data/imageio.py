"""Reading images robustly into uint8 arrays and tensors.

Every mode Pillow decodes is brought to 1 (grey) or 3 (RGB) channels of uint8:
EXIF orientation is applied, palette and CMYK images become RGB, alpha is dropped (composited on
nothing: SR training and scoring use colour only; the first such image is named in the log),
16-bit and 32-bit integer images are scaled to 8 bits. Any failure to read a file raises
:class:`srlab.errors.ImageReadError` naming the file — never another exception type — so callers
can skip bad files with one ``except``.
"""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

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

# EXIF orientations 5-8 transpose the image: the decoded (H, W) is the stored (W, H).
_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)
_EXIF_ORIENTATION_TAG = 0x0112
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")

log = logging.getLogger(__name__)
_alpha_noted = False  # one log line per process, not one per image
_alpha_lock = threading.Lock()  # the decoded-image cache decodes in threads


def _note_dropped_alpha(img: Image.Image) -> None:
    global _alpha_noted
    if _alpha_noted or not (img.mode in _ALPHA_MODES or "transparency" in img.info):
        return
    with _alpha_lock:
        if _alpha_noted:
            return
        _alpha_noted = True
        log.info(
            "alpha channels are dropped (SR training and scoring use colour only); first: %s",
            getattr(img, "filename", "") or "an image",
        )


def is_image_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def pil_to_array(img: Image.Image) -> np.ndarray:
    """A Pillow image -> ``(H, W, C)`` uint8 array, C = 1 (grey) or 3 (RGB)."""
    _note_dropped_alpha(img)
    img = ImageOps.exif_transpose(img)
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img)
        # 16-bit PNGs decode to mode I (int32) or I;16; both hold values up to 65535.
        maxval = 65535.0 if arr.max(initial=0) > 255 or mode.startswith("I;16") else 255.0
        arr = np.clip(np.round(arr.astype(np.float64) * (255.0 / maxval)), 0, 255).astype(np.uint8)
        return arr[..., None]
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        arr = np.clip(np.round(arr * 255.0 if arr.max(initial=0) <= 1.0 else arr), 0, 255)
        return arr.astype(np.uint8)[..., None]
    if mode in ("1", "L", "LA", "La"):
        return np.asarray(img.convert("L"))[..., None]
    if mode in ("P", "PA"):
        img = (
            img.convert("RGBA")
            if "transparency" in img.info or mode == "PA"
            else img.convert("RGB")
        )
    if img.mode != "RGB":
        img = img.convert("RGB")  # RGBA, CMYK, YCbCr, LAB, HSV -> RGB (alpha dropped)
    return np.asarray(img)


def read_image_array(path: str | Path) -> np.ndarray:
    """Decode ``path`` -> ``(H, W, C)`` uint8 array, C = 1 (grey) or 3 (RGB).

    Raises:
        ImageReadError: for a missing, unreadable, truncated or undecodable file (names the file).
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()
                arr = pil_to_array(img)
    except FileNotFoundError as e:
        raise ImageReadError(f"{path}: no such file") from e
    except Image.DecompressionBombError as e:
        raise ImageReadError(f"{path}: image too large to decode safely ({e})") from e
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 — corrupt files raise anything from OSError to struct.error
        raise ImageReadError(f"{path}: cannot decode image ({type(e).__name__}: {e})") from e
    if arr.ndim != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageReadError(f"{path}: decoded to an empty image")
    if not arr.flags.writeable or not arr.flags.c_contiguous:  # Pillow's buffers are read-only
        arr = np.array(arr, order="C")
    return arr


def read_image(path: str | Path) -> torch.Tensor:
    """Decode ``path`` -> ``(C, H, W)`` uint8 tensor, C = 1 (grey) or 3 (RGB)."""
    return torch.from_numpy(read_image_array(path)).permute(2, 0, 1).contiguous()


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
