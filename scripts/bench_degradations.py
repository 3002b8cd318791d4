"""Cost of the degradation pipelines next to one SRCNN training step, on the same batch.

    python scripts/bench_degradations.py                 # CPU, and CUDA when available
    python scripts/bench_degradations.py --device cpu --threads 1 --repeats 50

Batch: ``--batch-size`` HR patches of ``--patch`` px, 3 channels, at ``--scale`` (default: 64 x 3 x
33 x 33 at x3, SRCNN's setting). For each device it times every ``conf/degradation/*.yaml`` pipeline
(HR float -> LR, as ``SRDataModule.on_after_batch_transfer`` runs it) and one SRCNN 9-5-5 (Y)
training step (forward with its bicubic upsampling, MSE, backward, Adam), and prints a markdown
table with the median (and minimum) time per batch and the pipeline's share of the step. Exit
status 1 if the ``bicubic`` pipeline costs 10 % of the step or more on CPU (the project's target).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

PIPELINES = ("bicubic", "blur_bicubic", "noisy", "realistic")


def build_pipeline(name: str, scale: int) -> torch.nn.Module:
    """Instantiate ``conf/degradation/<name>.yaml`` at ``scale`` (through the training config)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate

    from srlab.cli.config import CONFIG_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[f"degradation={name}", f"data.scale={scale}"])
    return instantiate(cfg.degradation)


def time_it(fn, device: torch.device, warmup: int, repeats: int) -> tuple[float, float]:
    """Median and minimum wall time of ``fn()`` in milliseconds (CUDA synchronised).

    On a shared machine the minimum is the better estimate of the intrinsic cost; the median
    includes the stalls other processes cause.
    """
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times)


def srcnn_step(scale: int, device: torch.device, channels_last: bool):
    """One SRCNN 9-5-5 (Y) training step as SRModule.training_step runs it, as a closure."""
    import torch.nn.functional as F

    from srlab.models.srcnn import SRCNN
    from srlab.protocol.colour import to_model_space

    net = SRCNN(scale=scale, in_channels=1).to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-4)

    def step(lr: torch.Tensor, hr: torch.Tensor) -> None:
        lr_y, hr_y = to_model_space(lr, 1), to_model_space(hr, 1)
        if channels_last:
            lr_y = lr_y.contiguous(memory_format=torch.channels_last)
        loss = F.mse_loss(net(lr_y), hr_y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def bench_device(args, device: torch.device) -> tuple[list[str], float | None]:
    """Rows of the table for ``device`` and the bicubic share of the step."""
    g = torch.Generator().manual_seed(0)
    hr_uint8 = torch.randint(0, 256, (args.batch_size, 3, args.patch, args.patch), generator=g)
    hr = hr_uint8.to(torch.uint8).to(device).float() / 255
    step = srcnn_step(args.scale, device, channels_last=not args.no_channels_last)
    lr = build_pipeline("bicubic", args.scale).to(device)(hr)
    step_ms, step_min = time_it(lambda: step(lr, hr), device, args.warmup, args.repeats)
    rows = [
        f"| {device.type} | SRCNN 9-5-5 (Y) train step | {step_ms:.2f} | {step_min:.2f} | 100 % |"
    ]
    bicubic_share = None
    for name in PIPELINES:
        pipeline = build_pipeline(name, args.scale).to(device)
        gen = torch.Generator(device=device).manual_seed(0)
        ms, ms_min = time_it(
            lambda p=pipeline, gn=gen: p(hr, generator=gn), device, args.warmup, args.repeats
        )
        share = 100 * ms / step_ms
        if name == "bicubic":
            bicubic_share = share
        rows.append(
            f"| {device.type} | degradation={name} | {ms:.2f} | {ms_min:.2f} | {share:.1f} % |"
        )
    return rows, bicubic_share


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--device", choices=["all", "cpu", "cuda"], default="all")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--patch", type=int, default=33, help="HR patch size (divisible by scale)")
    parser.add_argument("--scale", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's)"
    )
    parser.add_argument(
        "--no-channels-last", action="store_true", help="SRCNN in NCHW (default NHWC)"
    )
    args = parser.parse_args(argv)
    if args.patch % args.scale:
        parser.error("--patch must be divisible by --scale")
    if args.threads:
        torch.set_num_threads(args.threads)

    devices = []
    if args.device in ("all", "cpu"):
        devices.append(torch.device("cpu"))
    if args.device in ("all", "cuda"):
        if torch.cuda.is_available():
            devices.append(torch.device("cuda"))
        elif args.device == "cuda":
            parser.error("CUDA is not available")
    print(
        f"batch {args.batch_size} x 3 x {args.patch} x {args.patch} HR -> x{args.scale} LR; "
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
        + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "")
        + f"; median of {args.repeats} runs"
    )
    print(
        "\n| Device | Work per batch | median ms | min ms | Share of the step (medians) |"
        "\n|---|---|---:|---:|---:|"
    )
    cpu_bicubic_share = None
    for device in devices:
        rows, share = bench_device(args, device)
        print("\n".join(rows), flush=True)
        if device.type == "cpu":
            cpu_bicubic_share = share
    if cpu_bicubic_share is not None:
        ok = cpu_bicubic_share < 10
        print(
            f"\nCPU bicubic pipeline = {cpu_bicubic_share:.1f} % of the step (target < 10 %): "
            + ("OK" if ok else "TOO SLOW")
        )
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
