"""Plain containers of a comparison's numbers (no torch): what tables, figure and viewer read."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from srlab.comparison.stats import DeltaStats

__all__ = ["Comparison", "ModelScore", "SetComparison", "clean_json", "slugify"]


def slugify(text: str, taken: set[str] | None = None) -> str:
    """A file-name-safe version of ``text`` (``[A-Za-z0-9._-]``), made unique against ``taken``."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"
    if taken is not None:
        base, k = slug, 2
        while slug in taken:
            slug, k = f"{base}_{k}", k + 1
        taken.add(slug)
    return slug


@dataclass
class ModelScore:
    """One model on one (set, scale): protocol means, per-image scores, ΔPSNR statistics.

    ``per_image`` rows are ``{"name", "psnr", "ssim"}`` in the set's image order (every model of a
    set has the same rows, so they pair by position); ``delta`` is ``None`` for the reference.
    """

    model: str
    psnr: float
    ssim: float
    images: int
    per_image: list[dict]
    delta: DeltaStats | None = None
    delta_per_image: list[float] | None = None


@dataclass
class SetComparison:
    """Every model that runs at ``scale`` on one image set.

    ``files`` maps an image name to its viewer images, relative to the output folder:
    ``{"HR": …, "sr/<model>": …, "err/<model>": …}``.
    """

    dataset: str
    scale: int
    images: list[str]
    scores: dict[str, ModelScore]
    files: dict[str, dict[str, str]] = field(default_factory=dict)
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)  # image -> (H, W) after modcrop

    @property
    def key(self) -> str:
        return f"{self.dataset} x{self.scale}"


@dataclass
class Comparison:
    """A whole comparison: models (labels, in order), the reference, one entry per (set, scale)."""

    models: list[str]
    reference: str
    sets: list[SetComparison]
    resamples: int = 10000
    seed: int = 0
    confidence: float = 0.95
    round_y: bool = False
    grey_as_rgb: bool = False  # greyscale images scored as RGB (BasicSR's convention)
    specs: dict[str, str] = field(default_factory=dict)  # label -> what models= said
    notes: list[str] = field(default_factory=list)  # skipped models and the like

    @property
    def scales(self) -> list[int]:
        return sorted({s.scale for s in self.sets})

    def protocol(self) -> str:
        """One sentence stating how the numbers were obtained (captions, notes)."""
        y = "integer Y" if self.round_y else "Y"
        grey = " (greyscale images as RGB)" if self.grey_as_rgb else ""
        return (
            f"PSNR/SSIM on BT.601 {y}{grey}, uint8-rounded outputs, 'scale' pixels shaved; "
            f"ΔPSNR against {self.reference}: mean over images with a "
            f"{100 * self.confidence:g}% paired bootstrap percentile interval "
            f"({self.resamples} resamples over images, seed {self.seed})"
        )


def clean_json(obj):
    """``obj`` with non-finite floats as ``None`` (JSON has no inf/NaN; ``JSON.parse`` rejects them)."""
    import math

    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    return obj
