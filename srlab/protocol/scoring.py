"""Scoring, the one path: validation, ``srlab.evaluate`` and the W&B panels all call
:func:`score_batch`, so a score never depends on which of them computed it.

Protocol (what the SR literature's MATLAB code does), per HR image and scale ``s``:

1. mod-crop the HR image to multiples of ``s`` (top-left part kept);
2. make the LR image with the degradation (default: MATLAB bicubic ``x1/s``, rounded to uint8 —
   benchmark LR files are 8-bit); random degradations draw from a CPU generator seeded per image
   (:func:`image_generator`), so every run, every model, every validation and every device see
   identical LR images;
3. feed it to the network in its colour mode (:func:`srlab.protocol.colour.to_model_space`: Y of
   BT.601 for 1-channel networks, RGB for 3-channel ones; grey images as they are), in full
   float32 whatever the trainer's precision, TF32 or autocast settings (:func:`super_resolve`);
4. score with :mod:`srlab.protocol.metrics`: output rounded to uint8, Y channel, ``s`` pixels
   shaved, PSNR/SSIM per image; a set's figure is the mean over its images. A greyscale
   (one-channel) image is scored on its grey values, as MATLAB and the papers do;
   ``grey_as_rgb=True`` reads it as three equal channels first, as BasicSR and KAIR do (scored on
   Y = 16 + 219·grey/255: 20·log10(255/219) = 1.32 dB higher for the same error).

The bicubic baseline shown beside a model is computed the way the model's score is: the same LR
image, upsampled by the protocol's bicubic *in the network's colour mode* (Y for a Y network, RGB
for an RGB one), scored by the same code (:func:`bicubic_baseline`). The published bicubic rows
(``model=bicubic``, an RGB upsampling) differ from the Y one by about 0.01 dB.

Its length: this is the protocol's single scoring path (validation, evaluate, compare and the W&B
panels all call it), kept in one module on purpose so that no second copy of the protocol can
appear.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import torch
from torch import nn

from srlab.degradations.resize import imresize
from srlab.protocol.colour import to_model_space
from srlab.protocol.metrics import psnr_per_image, ssim_per_image
from srlab.utils.precision import full_float32

__all__ = [
    "BatchScores",
    "EvalResult",
    "bicubic_baseline",
    "evaluate",
    "evaluate_source",
    "image_generator",
    "image_seed",
    "score_batch",
    "super_resolve",
]


def image_seed(seed: int, index: int) -> int:
    """Seed of image ``index``'s degradation generator (validation, evaluate and compare)."""
    return seed + 7919 * (index + 1)


def image_generator(seed: int, index: int) -> torch.Generator:
    """Image ``index``'s degradation generator: always a *CPU* generator, whatever device the
    degradation runs on. CPU and CUDA generators give different streams; drawing every random
    parameter and noise field on the CPU (then moving it) makes validation on a GPU, validation
    on a CPU and ``srlab.evaluate`` on either produce the same LR images."""
    return torch.Generator(device="cpu").manual_seed(image_seed(seed, index))


def super_resolve(net: nn.Module, lr_image: torch.Tensor) -> torch.Tensor:
    """Image-space LR ``(B, C, h, w)`` -> the network's output ``(B, in_channels, s*h, s*w)``.

    Full float32 (:func:`srlab.utils.precision.full_float32`): autocast off, and no TF32 or
    bfloat16 products (``matmul_precision``, cuDNN's TF32 convolutions). Under a ``bf16-mixed``
    trainer the convolutions would otherwise carry ~3 significant digits, an error as large as a
    uint8 step; so the same weights score the same under any trainer precision.
    """
    x = to_model_space(lr_image.float(), int(getattr(net, "in_channels", 3)))
    with full_float32(x.device.type):
        return net(x).float()


def bicubic_baseline(net: nn.Module, lr_image: torch.Tensor) -> torch.Tensor:
    """The bicubic counterpart of ``super_resolve(net, lr_image)``: the protocol's bicubic of the
    same LR image in the network's colour mode, ``(B, in_channels, s*h, s*w)``."""
    x = to_model_space(lr_image.float(), int(getattr(net, "in_channels", 3)))
    return imresize(x, int(net.scale))  # full float32 inside


class BatchScores(NamedTuple):
    """Per-image scores of a batch: ``sr`` is the network output; the rest are ``(B,)`` float64."""

    sr: torch.Tensor
    psnr: torch.Tensor
    ssim: torch.Tensor
    psnr_bicubic: torch.Tensor | None
    ssim_bicubic: torch.Tensor | None


@torch.no_grad()
def score_batch(
    net: nn.Module,
    lr_image: torch.Tensor,
    hr: torch.Tensor,
    bicubic: bool = True,
    round_y: bool = False,
) -> BatchScores:
    """Super-resolve ``lr_image (B,C,h,w)`` with ``net`` and score it against ``hr (B,C,H,W)``.

    Both in [0, 1], image space (C = 3 RGB or 1 grey). The border shaved is ``net.scale``.
    ``bicubic`` also scores :func:`bicubic_baseline`; ``round_y`` rounds Y to integers first
    (MATLAB ``rgb2ycbcr`` on uint8).
    """
    scale = int(net.scale)
    sr = super_resolve(net, lr_image)
    if sr.shape[-2:] != hr.shape[-2:]:
        raise ValueError(
            f"{type(net).__name__} x{scale} returned {tuple(sr.shape[-2:])} for a "
            f"{tuple(lr_image.shape[-2:])} input; expected {tuple(hr.shape[-2:])}"
        )
    scores = [
        psnr_per_image(sr, hr, scale, round_y),
        ssim_per_image(sr, hr, scale, round_y=round_y),
    ]
    if bicubic:
        bic = bicubic_baseline(net, lr_image)
        scores += [
            psnr_per_image(bic, hr, scale, round_y),
            ssim_per_image(bic, hr, scale, round_y=round_y),
        ]
    else:
        scores += [None, None]
    return BatchScores(sr, *scores)


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


def _result(model: str, dataset: str, scale: int, rows: list[dict], seconds: float) -> EvalResult:
    n = len(rows)
    return EvalResult(
        model=model,
        dataset=dataset,
        scale=int(scale),
        psnr=sum(r["psnr"] for r in rows) / max(n, 1),
        ssim=sum(r["ssim"] for r in rows) / max(n, 1),
        images=n,
        seconds=seconds,
        per_image=rows,
    )


@torch.inference_mode()
def evaluate_source(
    net: nn.Module,
    source,
    scale: int,
    degradation: Callable[..., torch.Tensor] | None = None,
    device: str | torch.device | None = "cpu",
    seed: int = 0,
    round_y: bool = False,
    model_name: str = "model",
    dataset: str | None = None,
    bicubic: bool = False,
    on_image: Callable[[dict], None] | None = None,
    grey_as_rgb: bool = False,
) -> EvalResult | tuple[EvalResult, EvalResult]:
    """Score ``net`` on every image of ``source`` (an :class:`~srlab.data.sources.ImageSource`).

    Args:
        net: ``net(lr) -> sr`` with ``scale`` (must equal ``scale``) and ``in_channels``.
        source: HR images.
        scale: SR factor (also the border shaved before scoring).
        degradation: ``(hr, generator) -> lr``; default MATLAB bicubic with uint8 LR.
        device: where the network and the degradation run (``"auto"``: CUDA if available).
        seed: base seed of the per-image degradation generators (:func:`image_seed`).
        round_y: round Y to integers before scoring (MATLAB ``rgb2ycbcr`` variant).
        model_name, dataset: labels of the result.
        bicubic: also return the :func:`bicubic_baseline` result (labelled ``bicubic (Y)`` or
            ``bicubic (RGB)`` after the network's colour mode), computed in the same pass.
        on_image: called per image with ``{"index", "name", "hr", "lr", "sr"}`` (tensors
            ``(1, C, H, W)`` in image space, ``sr`` in the network's colour mode) and the scores.
        grey_as_rgb: treat a one-channel (greyscale) image as RGB with three equal channels, as
            BasicSR and KAIR do (they read every image as colour): it is then scored on BT.601 Y
            = 16 + 219·grey/255, whose compressed range scores it 20·log10(255/219) = 1.32 dB
            higher than srlab's default, the grey values themselves (MATLAB's and the papers'
            convention). Colour images are unaffected.

    Returns:
        The model's :class:`EvalResult`, or ``(model, bicubic)`` with ``bicubic=True``.
    """
    from srlab.data.datasets import modcrop
    from srlab.degradations.base import BicubicDegradation
    from srlab.utils.devices import pick_device

    device = pick_device(device)
    if int(getattr(net, "scale", scale)) != int(scale):
        raise ValueError(f"{model_name} is a x{net.scale} model, asked to score at x{scale}")
    if degradation is None:
        degradation = BicubicDegradation(scale)
    if isinstance(degradation, nn.Module):
        degradation = degradation.to(device)
    net = net.to(device).eval()
    start = time.perf_counter()
    rows, bicubic_rows = [], []
    for index in range(len(source)):
        hr = modcrop(source.load(index), scale).to(device=device, dtype=torch.float32)
        hr = hr.div(255).unsqueeze(0)
        if grey_as_rgb and hr.shape[1] == 1:
            hr = hr.expand(-1, 3, -1, -1)  # BasicSR/KAIR: every image read as colour
        lr = degradation(hr, generator=image_generator(seed, index))  # CPU: same on any device
        scores = score_batch(net, lr, hr, bicubic=bicubic, round_y=round_y)
        name = source.name(index)
        rows.append({"name": name, "psnr": float(scores.psnr[0]), "ssim": float(scores.ssim[0])})
        if bicubic:
            bicubic_rows.append(
                {
                    "name": name,
                    "psnr": float(scores.psnr_bicubic[0]),
                    "ssim": float(scores.ssim_bicubic[0]),
                }
            )
        if on_image is not None:
            on_image(
                {"index": index, "name": name, "hr": hr, "lr": lr, "sr": scores.sr, **rows[-1]}
            )
    seconds = time.perf_counter() - start
    dataset = dataset or getattr(source, "set_name", type(source).__name__)
    result = _result(model_name, dataset, scale, rows, seconds)
    if not bicubic:
        return result
    colour = "Y" if int(getattr(net, "in_channels", 3)) == 1 else "RGB"
    return result, _result(f"bicubic ({colour})", dataset, scale, bicubic_rows, seconds)


def evaluate(
    net_for_scale: Callable[[int], nn.Module],
    sets: Sequence,
    scales: Sequence[int],
    root: str | None = None,
    degradation_for_scale: Callable[[int], Callable[..., torch.Tensor]] | None = None,
    device: str | torch.device | None = "auto",
    seed: int = 0,
    round_y: bool = False,
    model_name: str = "model",
    log: Callable[[str], None] | None = None,
    bicubic: bool = False,
    grey_as_rgb: bool = False,
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
        bicubic: add the model's bicubic baseline after each of its results.
        grey_as_rgb: score greyscale images as three-channel RGB (BasicSR's convention; see
            :func:`evaluate_source`).

    Returns:
        One :class:`EvalResult` per (set, scale), sets outermost (model, then its bicubic row).
    """
    from srlab.data.sources import BenchmarkSet, ImageSource

    sources = [s if isinstance(s, ImageSource) else BenchmarkSet(root or ".", s) for s in sets]
    nets = {int(s): net_for_scale(int(s)) for s in scales}
    results = []
    for source in sources:
        for scale in scales:
            degradation = degradation_for_scale(int(scale)) if degradation_for_scale else None
            out = evaluate_source(
                nets[int(scale)],
                source,
                int(scale),
                degradation,
                device,
                seed,
                round_y,
                model_name,
                bicubic=bicubic,
                grey_as_rgb=grey_as_rgb,
            )
            for result in out if isinstance(out, tuple) else (out,):
                if log is not None:
                    log(
                        f"{result.model} {result.dataset} x{result.scale}: {result.psnr:.3f} dB, "
                        f"SSIM {result.ssim:.4f} ({result.images} images, {result.seconds:.1f} s)"
                    )
                results.append(result)
    return results
