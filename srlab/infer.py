"""Upscale images with a trained model:
``python -m srlab.infer input=FILE_OR_DIR output=DIR ckpt=PATH_OR_NAME [scale=N] [device=auto]``.

Every image (PNG/JPEG/BMP/TIFF/WebP; grey, grey+alpha, RGB, RGBA; 8 or 16 bits) is upscaled by
exactly ``scale`` and written as ``OUTPUT/<input name>.png`` with the input's channels and bit
depth. Colour rules (the SR literature's): a Y-channel model (``in_channels == 1``) upscales the
BT.601 Y channel and takes Cb/Cr from the protocol's bicubic; an RGB model takes RGB; grey images go
straight through a Y model (and through an RGB model as three equal channels, averaged back);
alpha is upscaled separately with bicubic. Large images are processed in overlapping tiles
(:mod:`srlab.inference.tiling`), so memory is bounded by the tile size.

Safety: the output folder is created if missing and must not be the input folder; no output may
be an input (not even through a link); each file is written atomically (temporary file in the
output folder + ``os.replace``), so an interrupted run leaves complete files only (temporary files
of a killed run are removed by the next run). Outputs that already exist are replaced, kept or
refused as ``existing=overwrite|skip|error`` says.

Bad inputs: a file that cannot be decoded (corrupt, truncated, not an image) is reported by name
and skipped; the other images are still upscaled. Exit status: 0 when every input was upscaled,
1 when some could not be read (named on stderr; nothing is written for them), 2 when nothing was
done (a bad argument, a missing checkpoint, an unwritable output folder).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import hydra
from omegaconf import DictConfig

from srlab.cli.config import CONFIG_DIR
from srlab.errors import ConfigError, SrlabError, user_errors

log = logging.getLogger("srlab.infer")

# What to do with an output file that already exists (``existing=``).
EXISTING_POLICIES = ("overwrite", "skip", "error")
# Exit status when some inputs could not be read (2, from user_errors, means nothing was done).
EXIT_SOME_INPUTS_FAILED = 1


class InferInputsError(SrlabError):
    """Some inputs could not be read (each named); the readable ones were upscaled.

    Attributes:
        stats: the run's totals, :attr:`InferStats.failed` lists the unreadable files.
    """

    def __init__(self, message: str, stats: InferStats):
        super().__init__(message)
        self.stats = stats


@dataclass
class InferStats:
    """Totals of one run: images, wall-clock seconds of the whole loop (decode, upscale, encode)
    and of the upscaling alone, pixels; the inputs that could not be read (``(path, message)``)
    and those skipped by ``existing=skip``."""

    images: int = 0
    seconds: float = 0.0
    wall_seconds: float = 0.0
    input_pixels: int = 0
    output_pixels: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        if not self.images:
            return f"no image upscaled ({self.wall_seconds:.2f} s)"
        mps = self.output_pixels / 1e6 / self.seconds if self.seconds else float("inf")
        return (
            f"{self.images} image(s) in {self.wall_seconds:.2f} s "
            f"({self.images / self.wall_seconds:.2f} images/s with decoding and writing); "
            f"upscaling {self.seconds:.2f} s, {mps:.2f} output MP/s "
            f"({self.input_pixels / 1e6:.2f} input MP)"
        )


def _tiles_of(upscaler, path: Path) -> int:
    """Tiles of the image at ``path`` (from its header; 1 if the header cannot be read)."""
    from srlab.data.imageio import image_size
    from srlab.errors import ImageReadError

    try:
        return upscaler.tiles(*image_size(path))
    except ImageReadError:
        return 1


def infer(cfg: DictConfig) -> InferStats:
    """Run ``srlab.infer`` with a composed ``conf/infer.yaml``; returns the run's totals.

    Raises:
        InferInputsError: after the run, when some inputs could not be read (the others are
            written; each bad file was logged by name as it came).
        SrlabError: before anything is written, for a bad argument or an unsafe output folder.
    """
    import torch
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    from srlab.checkpoints import load_model
    from srlab.data.imageio import read_image_file
    from srlab.data.pngwrite import write_png
    from srlab.errors import ImageReadError
    from srlab.inference.files import list_inputs, output_paths, remove_stale_temporaries
    from srlab.inference.upscale import Upscaler
    from srlab.utils.devices import pick_device

    for key in ("input", "output", "ckpt"):
        if cfg.get(key) in (None, "", "???"):
            raise ConfigError(
                f"srlab.infer needs {key}=… (e.g. input=photos/ output=upscaled/ ckpt=bicubic scale=3)"
            )
    existing = str(cfg.get("existing", "overwrite"))
    if existing not in EXISTING_POLICIES:
        raise ConfigError(
            f"existing must be one of {', '.join(EXISTING_POLICIES)}, got {existing!r}"
        )
    if cfg.get("torch_threads"):
        torch.set_num_threads(int(cfg.torch_threads))
    if cfg.get("tune_malloc", True):
        from srlab.utils.hardware import tune_malloc

        tune_malloc()  # tiles reuse freed memory: no page faults per tile (~20% on a CPU)
    from srlab.interop.spandrel import resolve_tiling

    resolve_tiling(None, cfg.get("tile"), cfg.get("tile_overlap"))  # bad values fail before loading
    inputs = list_inputs(cfg.input)
    outputs = output_paths(inputs, Path(str(cfg.output)))
    output_dir = outputs[0].parent
    present = [o for o in outputs if o.exists()]
    if present and existing == "error":
        shown = ", ".join(o.name for o in present[:5]) + (" …" if len(present) > 5 else "")
        raise SrlabError(
            f"{len(present)} output file(s) already exist in {output_dir} ({shown}) and "
            "existing=error; use existing=overwrite to replace them or existing=skip to keep them"
        )
    device = pick_device(cfg.get("device", "auto"))
    scale = cfg.get("scale")
    model = load_model(cfg.ckpt, scale=None if scale is None else int(scale), device=device)
    # tile=auto / tile_overlap=auto: the model's defaults (spandrel's tiling hint, window size;
    # srlab's networks: their measured receptive radius).
    tile, overlap = resolve_tiling(model.net, cfg.get("tile"), cfg.get("tile_overlap", "auto"))
    upscaler = Upscaler(model, device, cfg.get("half", False), tile, overlap)
    log.info(
        "model: %s on %s%s; tiles of %s LR px",
        model.describe(),
        device,
        " (float16)" if upscaler.half else "",
        tile or "whole-image",
    )
    if model.in_channels == 1:
        log.info("colour: Y upscaled by the model, Cb/Cr by bicubic (BT.601)")
    if present:
        action = "kept, their inputs skipped" if existing == "skip" else "replaced"
        log.info(
            "%d output file(s) already exist and will be %s (existing=%s)",
            len(present),
            action,
            existing,
        )
    created = not output_dir.exists()
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SrlabError(f"cannot create the output folder {output_dir}: {e}") from e
    remove_stale_temporaries(output_dir, outputs)
    stats = InferStats()
    alpha_noted = False
    present_set = set(present)
    todo = [(src, dst) for src, dst in zip(inputs, outputs, strict=True)]
    # Progress counts tiles (a large image is many of them), from the files' headers.
    total_tiles = sum(_tiles_of(upscaler, src) for src, _ in todo)
    wall_start = time.perf_counter()
    with (
        logging_redirect_tqdm(),
        tqdm(total=total_tiles, unit="tile", desc="upscaling", file=sys.stderr) as bar,
    ):
        for src, dst in todo:
            tiles = _tiles_of(upscaler, src)
            if existing == "skip" and dst in present_set:
                stats.skipped.append(src)
                bar.update(tiles)
                continue
            try:
                image = read_image_file(src)
            except ImageReadError as e:  # the message names the file
                log.error("skipping %s", e)
                stats.failed.append((src, str(e)))
                bar.update(tiles)
                continue
            if image.alpha is not None and not alpha_noted:
                log.info(
                    "alpha channels are upscaled separately with bicubic (first: %s)", src.name
                )
                alpha_noted = True
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            done = 0

            def advance() -> None:
                nonlocal done
                done += 1
                bar.update(1)

            out = upscaler.upscale(image, on_tile=advance)
            bar.update(max(0, tiles - done))  # a header that disagreed with the decoded size
            if device.type == "cuda":
                torch.cuda.synchronize()
            stats.seconds += time.perf_counter() - start
            try:
                write_png(dst, out)
            except OSError as e:  # disk full, permissions: every later write would fail too
                raise SrlabError(
                    f"cannot write {dst}: {e}; no partial file was left, {stats.images} image(s) "
                    "were written before"
                ) from e
            stats.images += 1
            stats.input_pixels += image.height * image.width
            stats.output_pixels += out.shape[0] * out.shape[1]
            log.info(
                "%s (%s) -> %s (%dx%d)", src.name, image.describe(), dst, out.shape[1], out.shape[0]
            )
    stats.wall_seconds = time.perf_counter() - wall_start
    if created and not any(output_dir.iterdir()):
        output_dir.rmdir()  # nothing was written: leave no empty folder behind
    skipped = f"; {len(stats.skipped)} skipped (existing=skip)" if stats.skipped else ""
    where = f"outputs in {output_dir}" if stats.images else "nothing written"
    print(f"[srlab] infer: {stats.summary()}{skipped}; {where}", flush=True)
    if stats.failed:
        names = [p.name for p, _ in stats.failed]
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        raise InferInputsError(
            f"{len(names)} of {len(inputs)} input(s) could not be read and were skipped "
            f"(reasons above): {shown}; {stats.images} image(s) upscaled into {output_dir}",
            stats,
        )
    return stats


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="infer")
def _hydra_main(cfg: DictConfig) -> None:
    with user_errors():
        try:
            infer(cfg)
        except InferInputsError as e:  # the readable images were written: not a usage error
            if os.environ.get("SRLAB_DEBUG"):
                raise
            print(f"srlab: error: {e}", file=sys.stderr, flush=True)
            sys.exit(EXIT_SOME_INPUTS_FAILED)


def main() -> None:
    """Console entry point (``python -m srlab.infer`` / ``srlab-infer``)."""
    from srlab.cli.app import prepare

    prepare("infer")  # --help, one vocabulary, one-line errors for typos (before heavy imports)
    _hydra_main()


if __name__ == "__main__":
    main()
