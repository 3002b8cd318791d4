"""Score any ``net(lr) -> sr`` on benchmark sets with the published SR protocol.

Protocol (what the SR literature's MATLAB code does), per HR image of a set and per scale ``s``:

1. mod-crop the HR image to multiples of ``s`` (top-left part kept);
2. make the LR image with the degradation (default: MATLAB bicubic ``x1/s``, rounded to uint8 —
   benchmark LR files are 8-bit); random degradations draw from a generator seeded per image
   (:func:`image_seed`, the DataModule's validation formula: with the same base seed the same LR),
   so every run and every model sees identical LR images;
3. feed it to the network in its colour mode (:func:`srlab.lit_module.to_model_space`: Y of
   BT.601 for 1-channel networks, RGB for 3-channel ones; grey images as they are);
4. score with :mod:`srlab.metrics`: output rounded to uint8, Y channel, ``s`` pixels shaved,
   PSNR/SSIM per image, mean over the images of the set.

:func:`evaluate` loops over sets and scales and returns one :class:`EvalResult` per (set, scale);
:func:`format_markdown` renders them as a paper-style table.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from srlab.data.datasets import modcrop
from srlab.data.sources import BenchmarkSet, ImageSource
from srlab.metrics import psnr_per_image, ssim_per_image

__all__ = [
    "EvalResult",
    "evaluate",
    "evaluate_source",
    "format_markdown",
    "image_seed",
    "instantiate_for_scale",
    "resolve_device",
]


@dataclass
class EvalResult:
    """Scores of one model on one set at one scale (means over images) and per image."""

    model: str
    dataset: str
    scale: int
    psnr: float
    ssim: float
    images: int
    seconds: float
    per_image: list[dict] = field(default_factory=list)  # {"name", "psnr", "ssim"}

    def as_dict(self, per_image: bool = True) -> dict:
        d = asdict(self)
        if not per_image:
            d.pop("per_image")
        return d


def image_seed(seed: int, index: int) -> int:
    """Seed of image ``index``'s degradation generator (as the DataModule's validation uses)."""
    return seed + 7919 * (index + 1)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"``/``None`` -> CUDA when available, else CPU; anything else as given."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@torch.inference_mode()
def evaluate_source(
    net: nn.Module,
    source: ImageSource,
    scale: int,
    degradation: Callable[..., torch.Tensor] | None = None,
    device: str | torch.device | None = "cpu",
    seed: int = 0,
    round_y: bool = False,
    model_name: str = "model",
    dataset: str | None = None,
    on_image: Callable[[dict], None] | None = None,
) -> EvalResult:
    """Score ``net`` on every image of ``source`` at ``scale`` (see the module doc).

    Args:
        net: ``net(lr (1, in_channels, h, w)) -> sr (1, in_channels, scale*h, scale*w)``; its
            ``in_channels`` attribute (default 3) selects Y or RGB input.
        source: HR images.
        scale: SR factor (also the border shaved before scoring).
        degradation: ``(hr, generator) -> lr``; default MATLAB bicubic with uint8 LR.
        device: where the network and the degradation run (``"auto"``: CUDA if available).
        seed: base seed of the per-image degradation generators.
        round_y: round Y to integers before scoring (MATLAB ``rgb2ycbcr`` variant).
        model_name, dataset: labels of the result.
        on_image: called once per image, after the SR image is computed and before it is scored,
            with ``{"index": int, "name": str, "hr": (1, C, H, W) image space in [0, 1] (mod-cropped),
            "lr": (1, C, H/s, W/s) image space, "sr": (1, in_channels, H, W) model space, float32}``
            (all on ``device``), e.g. to save the outputs without a second copy of the protocol.
    """
    from srlab.degradations.base import BicubicDegradation
    from srlab.lit_module import to_model_space

    device = resolve_device(device)
    if degradation is None:
        degradation = BicubicDegradation(scale)
    if isinstance(degradation, nn.Module):
        degradation = degradation.to(device)
    net = net.to(device).eval()
    in_channels = int(getattr(net, "in_channels", 3))
    start = time.perf_counter()
    per_image = []
    for index in range(len(source)):
        hr = (
            modcrop(source.load(index), scale)
            .to(device=device, dtype=torch.float32)
            .div(255)
            .unsqueeze(0)
        )
        generator = torch.Generator(device=device).manual_seed(image_seed(seed, index))
        lr = degradation(hr, generator=generator)
        sr = net(to_model_space(lr, in_channels)).float()
        if sr.shape[-2:] != hr.shape[-2:]:
            raise ValueError(
                f"{model_name} at x{scale} returned {tuple(sr.shape[-2:])} for a "
                f"{tuple(lr.shape[-2:])} input; expected {tuple(hr.shape[-2:])} "
                f"(is the model's scale {scale}?)"
            )
        if on_image is not None:
            on_image({"index": index, "name": source.name(index), "hr": hr, "lr": lr, "sr": sr})
        per_image.append(
            {
                "name": source.name(index),
                "psnr": float(psnr_per_image(sr, hr, scale, round_y)[0]),
                "ssim": float(ssim_per_image(sr, hr, scale, round_y=round_y)[0]),
            }
        )
    n = len(per_image)
    return EvalResult(
        model=model_name,
        dataset=dataset or getattr(source, "set_name", type(source).__name__),
        scale=int(scale),
        psnr=sum(r["psnr"] for r in per_image) / max(n, 1),
        ssim=sum(r["ssim"] for r in per_image) / max(n, 1),
        images=n,
        seconds=time.perf_counter() - start,
        per_image=per_image,
    )


def evaluate(
    net_for_scale: Callable[[int], nn.Module],
    sets: Sequence[str | ImageSource],
    scales: Sequence[int],
    root: str | None = None,
    degradation_for_scale: Callable[[int], Callable[..., torch.Tensor]] | None = None,
    device: str | torch.device | None = "auto",
    seed: int = 0,
    round_y: bool = False,
    model_name: str = "model",
    log: Callable[[str], None] | None = None,
) -> list[EvalResult]:
    """Score a model on named benchmark sets at several scales.

    Args:
        net_for_scale: ``scale -> net`` (bicubic built per scale, the checkpoint of that scale…).
        sets: names of benchmark sets under ``root`` (:class:`~srlab.data.sources.BenchmarkSet`:
            ``Set5``, ``Set14``, ``BSD100``, ``Urban100``, ``Manga109``, any folder name), or
            sources.
        scales: SR factors.
        root: data root holding the sets (``paths.data_dir``).
        degradation_for_scale: ``scale -> degradation``; default MATLAB bicubic with uint8 LR.
        device, seed, round_y: see :func:`evaluate_source`.
        model_name: label in the results.
        log: called with one line per finished (set, scale).

    Returns:
        One :class:`EvalResult` per (set, scale), sets outermost.
    """
    sources = [s if isinstance(s, ImageSource) else BenchmarkSet(root or ".", s) for s in sets]
    nets = {int(s): net_for_scale(int(s)) for s in scales}
    results = []
    for source in sources:
        for scale in scales:
            degradation = degradation_for_scale(int(scale)) if degradation_for_scale else None
            result = evaluate_source(
                nets[int(scale)], source, int(scale), degradation, device, seed, round_y, model_name
            )
            if log is not None:
                log(
                    f"{result.model} {result.dataset} x{result.scale}: {result.psnr:.3f} dB, "
                    f"SSIM {result.ssim:.4f} ({result.images} images, {result.seconds:.1f} s)"
                )
            results.append(result)
    return results


def instantiate_for_scale(cfg, node: str, scale: int, scale_key: str = "data.scale"):
    """Instantiate config ``node`` (e.g. ``"model.net"``) with ``scale_key`` set to ``scale``.

    Model and degradation configs read the SR factor by interpolation (``${data.scale}``), so the
    whole config is copied, the key set, and the node instantiated from the copy.
    """
    from hydra.utils import instantiate
    from omegaconf import OmegaConf, open_dict

    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        OmegaConf.update(cfg, scale_key, int(scale), force_add=True)
    return instantiate(OmegaConf.select(cfg, node))


def format_markdown(results: Sequence[EvalResult], layout: str = "wide") -> str:
    """Markdown table of ``results``.

    ``wide`` (paper style): one row per (model, set), one ``PSNR / SSIM`` column per scale.
    ``long``: one row per (model, set, scale) with PSNR, SSIM and the image count.
    """
    if layout == "long":
        lines = [
            "| Model | Dataset | Scale | PSNR (dB) | SSIM | Images |",
            "|---|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r.model} | {r.dataset} | x{r.scale} | {r.psnr:.3f} | {r.ssim:.4f} | {r.images} |"
            for r in results
        ]
        return "\n".join(lines)
    if layout != "wide":
        raise ValueError(f"layout must be 'wide' or 'long', got {layout!r}")
    scales = sorted({r.scale for r in results})
    rows: dict[tuple[str, str], dict[int, EvalResult]] = {}
    for r in results:
        rows.setdefault((r.model, r.dataset), {})[r.scale] = r
    lines = [
        "| Model | Dataset | " + " | ".join(f"x{s} PSNR / SSIM" for s in scales) + " |",
        "|---|---|" + "---:|" * len(scales),
    ]
    for (model, dataset), by_scale in rows.items():
        cells = [
            f"{by_scale[s].psnr:.2f} / {by_scale[s].ssim:.4f}" if s in by_scale else "–"
            for s in scales
        ]
        lines.append(f"| {model} | {dataset} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
