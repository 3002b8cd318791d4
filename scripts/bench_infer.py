"""CPU inference throughput of srlab.infer's upscaler (images/s and output MP/s).

    PYTHONPATH=. python scripts/bench_infer.py [--size 256] [--images 8] [--threads N]

Upscales ``--images`` generated RGB images of ``--size``² x3 with (a) the bundled SRCNN 9-1-5
checkpoint and (b) an SRCNN 9-5-5 (the paper's best; random weights, same cost as trained ones),
through :class:`srlab.infer.Upscaler` (Y model + bicubic chroma, tiles of 256, uint8 out), after
one warm-up image. Decoding/encoding PNGs is not timed (it is a few % for these sizes).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def main() -> None:
    from srlab.checkpoints import LoadedModel, load_model
    from srlab.data.imageio import ImageData
    from srlab.inference.upscale import Upscaler
    from srlab.models.srcnn import SRCNN

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=256, help="LR image side (pixels)")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--tile", type=int, default=256)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    images = [
        ImageData(rng.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8), None, 8, "RGB")
        for _ in range(args.images)
    ]
    models = {
        "SRCNN 9-5-5 x3 (bundled)": load_model("srcnn_x3"),
        "SRCNN 9-5-5 x3": LoadedModel(SRCNN(3, 1, 9, 5, 5).eval(), "srcnn_955", 3, 1),
    }
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.images} RGB images "
        f"of {args.size}x{args.size} -> {3 * args.size}x{3 * args.size}, tile {args.tile}"
    )
    for name, model in models.items():
        upscaler = Upscaler(model, "cpu", tile=args.tile)
        upscaler.upscale(images[0])  # warm-up (oneDNN kernel selection)
        start = time.perf_counter()
        for image in images:
            upscaler.upscale(image)
        seconds = time.perf_counter() - start
        out_mp = args.images * (3 * args.size) ** 2 / 1e6
        print(
            f"{name:26s}: {args.images / seconds:6.2f} images/s, {out_mp / seconds:6.2f} output MP/s "
            f"({seconds / args.images * 1000:.0f} ms/image)"
        )


if __name__ == "__main__":
    main()
