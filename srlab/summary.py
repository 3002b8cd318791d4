"""A table of every model config: parameters, multiply-accumulates, measured CPU speed.

    python -m srlab.summary                 # every conf/model/*.yaml at x3, LR 64x64
    python -m srlab.summary --scale 4 --lr-size 96 --threads 4 --models fsrcnn,vdsr

MACs are counted, not computed by hand: forward hooks on every ``Conv2d``, ``ConvTranspose2d`` and
``Linear`` add up their multiply-accumulates for one image (biases, activations, pixel shuffle and
the bicubic interpolation of pre-upsampling models are not counted). They are reported per output
(HR) pixel, which makes pre- and post-upsampling networks comparable. Speed is measured: the fastest
wall time of ``net(lr)`` for one LR image of a fixed size under ``torch.inference_mode`` on the CPU,
reported as output megapixels per second (single-threaded by default: reproducible, and
honest on a shared machine; ``--threads 0`` uses torch's default).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from srlab.cli.config import CONFIG_DIR

MAC_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


@dataclass
class ModelSummary:
    """One row of the table (``macs_per_pixel`` is per output pixel; ``mpix_per_s`` may be None)."""

    name: str
    network: str
    in_channels: int
    params: int
    macs: int
    macs_per_pixel: float
    mpix_per_s: float | None


def model_names(config_dir: str | Path = CONFIG_DIR) -> list[str]:
    """Names of every model config (``conf/model/*.yaml``), sorted."""
    return sorted(p.stem for p in (Path(config_dir) / "model").glob("*.yaml"))


def build_model(name: str, scale: int) -> tuple[nn.Module, bool]:
    """Instantiate ``model=<name>``'s network at ``scale``; returns ``(net, channels_last)``."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[f"model={name}", f"data.scale={scale}", "logger=none"])
    GlobalHydra.instance().clear()
    return instantiate(cfg.model.net), bool(cfg.model.get("channels_last", False))


def _layer_macs(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
    """Multiply-accumulates of one call of a conv / transposed conv / linear layer (no bias)."""
    if isinstance(module, nn.ConvTranspose2d):
        # Every input element is multiplied by a (C_out/groups, kh, kw) slice of the kernel.
        kh, kw = module.kernel_size
        return inputs[0].numel() * (module.out_channels // module.groups) * kh * kw
    if isinstance(module, nn.Conv2d):
        # Every output element is a dot product over (C_in/groups, kh, kw).
        kh, kw = module.kernel_size
        return output.numel() * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    raise TypeError(f"no MAC rule for {type(module).__name__}")


@torch.inference_mode()
def count_macs(net: nn.Module, lr: torch.Tensor) -> int:
    """Total MACs of ``net(lr)`` over every Conv2d/ConvTranspose2d/Linear call, via forward hooks."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        total += _layer_macs(module, inputs, output)

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, MAC_LAYERS)]
    try:
        net(lr)
    finally:
        for handle in handles:
            handle.remove()
    return total


@torch.inference_mode()
def measure_mpix_per_s(
    net: nn.Module, lr: torch.Tensor, repeats: int = 3, min_time: float = 0.5
) -> float:
    """Output megapixels per second of ``net(lr)``: the fastest of at least ``repeats`` timed calls
    (more until ``min_time`` seconds have passed), after two warm-up calls.

    The minimum, not the mean, because on a shared machine other processes only ever add time.
    """
    for _ in range(2):  # warm-up: allocator, oneDNN primitive creation for these shapes
        out = net(lr)
    out_pixels = out.shape[0] * out.shape[-2] * out.shape[-1]
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        net(lr)
        times.append(time.perf_counter() - t0)
    return out_pixels / min(times) / 1e6


def summarize(
    name: str,
    scale: int = 3,
    lr_size: int = 64,
    timing: bool = True,
    repeats: int = 3,
    min_time: float = 0.5,
) -> ModelSummary:
    """Parameters, MACs and (optionally) measured CPU speed of ``model=<name>`` at ``scale``."""
    net, channels_last = build_model(name, scale)
    net = net.eval()
    lr = torch.rand(
        1, net.in_channels, lr_size, lr_size, generator=torch.Generator().manual_seed(0)
    )
    if channels_last:  # as SRModule runs it
        net = net.to(memory_format=torch.channels_last)
        lr = lr.contiguous(memory_format=torch.channels_last)
    macs = count_macs(net, lr)
    out_pixels = (scale * lr_size) ** 2
    return ModelSummary(
        name=name,
        network=type(net).__name__,
        in_channels=int(net.in_channels),
        params=sum(p.numel() for p in net.parameters()),
        macs=macs,
        macs_per_pixel=macs / out_pixels,
        mpix_per_s=measure_mpix_per_s(net, lr, repeats, min_time) if timing else None,
    )


def format_table(rows: list[ModelSummary], scale: int, lr_size: int) -> str:
    """The rows as a markdown table."""
    hr = scale * lr_size
    lines = [
        f"| model | network | colour | params | MACs / output px | GMACs ({lr_size}x{lr_size} -> {hr}x{hr}) "
        f"| CPU MP/s (x{scale}) |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        speed = f"{r.mpix_per_s:.3f}" if r.mpix_per_s is not None else "—"
        colour = "Y" if r.in_channels == 1 else "RGB"
        lines.append(
            f"| {r.name} | {r.network} | {colour} | {r.params:,} | {r.macs_per_pixel:,.0f} "
            f"| {r.macs / 1e9:.3f} | {speed} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m srlab.summary", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--scale", type=int, default=3, help="SR factor (default 3)")
    parser.add_argument(
        "--lr-size", type=int, default=64, help="side of the square LR input (default 64)"
    )
    parser.add_argument(
        "--models", default="", help="comma-separated model config names (default: all)"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (default 1; 0 = torch's default)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed calls at least (default 3)")
    parser.add_argument(
        "--min-time", type=float, default=0.5, help="seconds of timing at least (default 0.5)"
    )
    parser.add_argument("--no-timing", action="store_true", help="skip the speed measurement")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    names = [n for n in args.models.split(",") if n] or model_names()
    unknown = sorted(set(names) - set(model_names()))
    if unknown:
        print(
            f"unknown model config(s): {', '.join(unknown)}; known: {', '.join(model_names())}",
            file=sys.stderr,
        )
        return 2
    rows = [
        summarize(n, args.scale, args.lr_size, not args.no_timing, args.repeats, args.min_time)
        for n in names
    ]
    print(format_table(rows, args.scale, args.lr_size))
    if not args.no_timing:
        print(
            f"\nCPU: {torch.get_num_threads()} torch thread(s), batch 1, float32, torch {torch.__version__}; "
            "MACs count Conv2d/ConvTranspose2d/Linear only (bicubic pre-upsampling not included)."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
