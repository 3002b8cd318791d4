"""Inference: ``srlab.infer``'s core against a bare ``net(x)``, and the memory of a large upscale.

srlab side: :class:`srlab.inference.upscale.Upscaler` on a decoded 8-bit RGB image, as
``srlab.infer`` runs it (``tile=auto``: 256 LR px tiles with the network's receptive radius as
overlap, or whole images with ``tile=0``): BT.601 Y through the network, Cb/Cr by bicubic, back to
RGB, rounded to uint8. File decoding and encoding are not timed. Bare side: ``net(y)`` on the
whole image's Y channel as a float tensor, channels-last, under ``torch.inference_mode``.
Rates are output megapixels per second.

Peak memory: a child process (so nothing of this one counts) upscales a ``rss_size`` RGB image
with tiles and reports its peak resident set size (``ru_maxrss``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
from hydra.utils import instantiate

from srlab.benchmark.common import Context, Rate, Section, scratch_dir, train_config


def photo_like(height: int, width: int, seed: int = 0) -> np.ndarray:
    """An ``(H, W, 3)`` uint8 image with smooth regions and detail (speed does not depend on it).

    Made in float32, in place where possible: a 4K image costs ~100 MB here, not a gigabyte.
    """
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, height // 32 + 2, width // 32 + 2, generator=g) * 255
    image = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear")
    image += torch.randn(image.shape, generator=g).mul_(12)
    return image.clamp_(0, 255).to(torch.uint8)[0].permute(1, 2, 0).contiguous().numpy()


def build_net(model: str, scale: int, ctx: Context | None = None) -> tuple[torch.nn.Module, str]:
    """``model=<name>``'s network at ``scale`` with seeded random weights (same cost as trained)
    and its label (``SRCNN 9-5-5``)."""
    from srlab.benchmark.training import network_label

    overrides = [*(ctx.train_overrides if ctx else []), f"model={model}", f"data.scale={scale}"]
    with scratch_dir(ctx.keep_dir if ctx else None) as run_dir:
        with train_config(overrides, run_dir) as cfg:
            torch.manual_seed(0)
            net = instantiate(cfg.model.net).eval()
            label = network_label(cfg.model.net)
    family = type(net).__name__
    return net, label if label == family else f"{family} {label}"


def upscaler_for(net: torch.nn.Module, name: str, tile: int | None):
    from srlab.checkpoints import LoadedModel
    from srlab.inference.upscale import Upscaler
    from srlab.interop.spandrel import resolve_tiling

    loaded = LoadedModel(net, name, int(net.scale), int(net.in_channels))
    tile_px, overlap = resolve_tiling(net, "auto" if tile is None else tile, "auto")
    return Upscaler(loaded, "cpu", tile=tile_px, tile_overlap=overlap)


def inference_rates(
    net: torch.nn.Module, name: str, size: int, ctx: Context
) -> dict[str, Rate | int | float]:
    """Output MP/s of the upscaler (tiled, whole image) and of ``net(y)``, one ``size``² image.

    They alternate, one image each per round (bare, tiled, whole, bare on srlab's tiles, bare,
    …), so a drift of the machine's speed hits all of them alike; ``ratio_<key>`` is the median
    over rounds of that image's rate over the mean of the whole-image bare runs around it.
    ``bare_tiled`` (the network alone over the same tiles) shows what tiling itself costs.
    """
    from srlab.data.imageio import ImageData
    from srlab.inference.tiling import tiled_forward
    from srlab.protocol.colour import rgb_to_y

    pixels = photo_like(size, size)
    image = ImageData(pixels, None, 8, "RGB")
    out_mp = (size * net.scale) ** 2 / 1e6
    tiled, whole = upscaler_for(net, name, None), upscaler_for(net, name, 0)
    x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255
    y = rgb_to_y(x).contiguous(memory_format=torch.channels_last)
    bare = net.to(memory_format=torch.channels_last).eval()

    def bare_call() -> None:
        with torch.inference_mode():
            bare(y)

    def bare_tiled_call() -> None:  # the same tiles and overlap, the network alone
        with torch.inference_mode():
            tiled_forward(bare, y, int(net.scale), tiled.tile, tiled.tile_overlap)

    calls = {
        "bare": bare_call,
        "tiled": lambda: tiled.upscale(image),
        "untiled": lambda: whole.upscale(image),
        "bare_tiled": bare_tiled_call,
    }
    for _ in range(ctx.warmup):
        for call in calls.values():
            call()
    seconds: dict[str, list[float]] = {key: [] for key in calls}
    for _ in range(ctx.repeats):
        for key, call in calls.items():
            start = time.perf_counter()
            call()
            seconds[key].append(time.perf_counter() - start)
    bare_end = time.perf_counter()
    bare_call()  # closes the last round: every srlab image has a bare image after it
    seconds["bare"].append(time.perf_counter() - bare_end)
    rates: dict[str, Rate | int | float] = {
        key: Rate.of([out_mp / t for t in values]) for key, values in seconds.items()
    }
    for key in ("tiled", "untiled", "bare_tiled"):
        paired = [
            (seconds["bare"][i] + seconds["bare"][i + 1]) / 2 / t
            for i, t in enumerate(seconds[key])
        ]
        rates[f"ratio_{key}"] = statistics.median(paired)
    rates["tile"], rates["overlap"] = tiled.tile or 0, tiled.tile_overlap
    return rates


def peak_rss(model: str, scale: int, width: int, height: int, threads: int) -> dict:
    """Peak RSS of ``python -m srlab.infer`` upscaling one ``width x height`` RGB PNG by ``scale``.

    The command runs in a fresh Python process (nothing of this one counts) with its defaults
    (``tile=auto``), on ``model=<model>``'s network saved as an srlab safetensors file (seeded
    random weights: the same memory as trained ones). The child reports its peak RSS
    (``VmHWM``: ``ru_maxrss`` would include this process's RSS, inherited through ``fork``) and
    its RSS once Python and torch are imported (the floor).
    Returns ``{"peak_mb", "floor_mb", "seconds", "out"}``.
    """
    from PIL import Image

    from srlab.checkpoints import LoadedModel
    from srlab.interop.safetensors import export_safetensors

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with scratch_dir() as tmp:
        net, _ = build_net(model, scale)
        with (
            scratch_dir() as run_dir,
            train_config([f"model={model}", f"data.scale={scale}"], run_dir) as cfg,
        ):
            from omegaconf import OmegaConf

            net_config = OmegaConf.to_container(cfg.model.net, resolve=True)
        loaded = LoadedModel(
            net, model, scale, int(net.in_channels), tmp / "random.ckpt", {"net_config": net_config}
        )
        weights = export_safetensors(loaded, tmp / f"{model}_x{scale}.safetensors")
        (tmp / "in").mkdir()
        Image.fromarray(photo_like(height, width)).save(tmp / "in" / "image.png", compress_level=1)
        args = [
            f"input={tmp / 'in'}",
            f"output={tmp / 'out'}",
            f"ckpt={weights}",
            "device=cpu",
            f"torch_threads={threads}",
        ]
        code = (
            "import json, runpy, sys, time\n"
            "def status(key):  # MB; VmHWM is this program's peak RSS\n"
            "    with open('/proc/self/status') as f:\n"
            "        return next(int(l.split()[1]) for l in f if l.startswith(key)) / 1024\n"
            "import torch, srlab.infer  # the floor: Python and torch imported\n"
            "floor = status('VmRSS')\n"
            f"sys.argv = ['srlab.infer', *{args!r}]\n"
            "start = time.perf_counter()\n"
            "try:\n"
            "    runpy.run_module('srlab.infer', run_name='__main__')\n"
            "except SystemExit as e:\n"
            "    assert not e.code, e.code\n"
            "peak = status('VmHWM')\n"
            "print(json.dumps({'peak_mb': peak, 'floor_mb': floor, "
            "'seconds': time.perf_counter() - start}))\n"
        )
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]),
        }
        proc = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=3600
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"srlab.infer for the peak-RSS measurement failed:\n{proc.stderr[-3000:]}"
            )
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        with Image.open(tmp / "out" / "image.png") as out:
            result["out"] = [out.height, out.width]
    return result


def inference_section(
    ctx: Context, models: list[str], scale: int, size: int, rss: dict | None
) -> Section:
    section = Section(
        "inference",
        "Inference: srlab.infer's upscaler against a bare net(x)",
        [
            "network",
            "image",
            "srlab tiled MP/s",
            "srlab whole image MP/s",
            "bare MP/s",
            "ratio srlab/bare",
            "bare on srlab's tiles / bare",
        ],
    )
    for model in models:
        net, label = build_net(model, scale, ctx)
        r = inference_rates(net, model, size, ctx)
        tiled, untiled, bare = r["tiled"], r["untiled"], r["bare"]
        section.rows.append(
            [
                label,
                f"{size}x{size} RGB x{scale} (tile {r['tile']}, overlap {r['overlap']})",
                tiled.fmt(2),
                untiled.fmt(2),
                bare.fmt(2),
                f"**{r['ratio_tiled']:.3f}** tiled, **{r['ratio_untiled']:.3f}** whole",
                f"{r['ratio_bare_tiled']:.3f}",
            ]
        )
        section.headlines.append(
            f"inference ratio srlab/bare ({label.lower()}, cpu, fp32, tiled): "
            f"{r['ratio_tiled']:.2f}"
        )
    section.notes.append(
        f"Output megapixels per second, float32 on the CPU ({torch.get_num_threads()} threads), "
        f"median of {ctx.repeats} images after {ctx.warmup} warm-up images. The four "
        "alternate image by image (bare, tiled, whole, the network alone on srlab's tiles, bare, "
        "…); a ratio is the median over rounds of that image's rate over the mean of the bare "
        "images just before and after. srlab: "
        "`Upscaler.upscale` (Y network, Cb/Cr by bicubic, RGB uint8 out; decoding and PNG "
        "writing excluded); bare: `net(y)` on the Y channel. Tiles recompute their overlap, "
        "which the ratio includes."
    )
    if rss:
        res = peak_rss(
            str(rss["model"]),
            int(rss["scale"]),
            int(rss["width"]),
            int(rss["height"]),
            torch.get_num_threads(),
        )
        h, w = res["out"][0], res["out"][1]
        section.extra += (
            f"**Peak memory**: `python -m srlab.infer` (defaults: `tile=auto`) upscaling one "
            f"{rss['width']}x{rss['height']} RGB PNG x{rss['scale']} to {w}x{h} with "
            f"`{rss['model']}`'s network, in a fresh process: peak RSS **{res['peak_mb']:,.0f} MB**"
            f" ({res['floor_mb']:,.0f} MB with Python and torch imported; the uint8 "
            f"output alone is {h * w * 3 / 2**20:,.0f} MB); {res['seconds']:.1f} s with PNG "
            "decoding and writing.\n"
        )
        section.headlines.append(
            f"peak RSS {rss['width']}x{rss['height']} x{rss['scale']} tiled upscale: "
            f"{res['peak_mb']:,.0f} MB"
        )
    return section
