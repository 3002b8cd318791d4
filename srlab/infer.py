"""Upscale images with a trained model:
``python -m srlab.infer input=FILE_OR_DIR output=DIR ckpt=PATH_OR_NAME [scale=N] [device=auto]``.

Every image (PNG/JPEG/BMP/TIFF/WebP; grey, grey+alpha, RGB, RGBA; 8 or 16 bits) is upscaled by
exactly ``scale`` and written as ``OUTPUT/<input name>.png`` with the input's channels and bit
depth. Colour rules (the SR literature's): a Y-channel model (``in_channels == 1``) upscales the
BT.601 Y channel and takes Cb/Cr from the protocol's bicubic; an RGB model takes RGB; grey images go
straight through a Y model (and through an RGB model as three equal channels, averaged back);
alpha is upscaled separately with bicubic. Large images are processed in overlapping tiles
(:mod:`srlab.tiling`), so memory is bounded by the tile size.

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

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import hydra
from omegaconf import DictConfig

from srlab.config import CONFIG_DIR
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


def pick_device(name: str = "auto"):
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N`` -> torch.device."""
    import torch

    name = str(name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device={name} but CUDA is not available here; use device=cpu or device=auto"
        )
    if name != "cpu" and not name.startswith("cuda"):
        raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {name!r}")
    return torch.device(name)


@dataclass
class InferStats:
    """Totals of one run: images, seconds of upscaling (decode/encode excluded), pixels; the
    inputs that could not be read (``(path, message)``) and those skipped by ``existing=skip``."""

    images: int = 0
    seconds: float = 0.0
    input_pixels: int = 0
    output_pixels: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        ips = self.images / self.seconds if self.seconds else float("nan")
        mps = self.output_pixels / 1e6 / self.seconds if self.seconds else float("nan")
        return (
            f"{self.images} image(s) in {self.seconds:.2f} s: {ips:.2f} images/s, "
            f"{mps:.2f} output MP/s ({self.input_pixels / 1e6:.2f} input MP)"
        )


class Upscaler:
    """Upscale decoded images (:class:`srlab.imagefile.ImageData`) with a loaded model.

    Args:
        model: a :class:`srlab.checkpoints.LoadedModel` (network already on ``device``).
        device: where tiles are computed.
        half: run the network in float16 (CUDA only; colour conversions stay float32).
        tile: LR tile size in pixels (``0``/``None`` = whole image at once).
        tile_overlap: LR pixels of context around each tile.
    """

    def __init__(
        self, model, device, half: bool = False, tile: int | None = 256, tile_overlap: int = 16
    ):
        import torch

        self.model = model
        self.device = torch.device(device)
        if half and not getattr(model.net, "supports_half", True):  # spandrel's descriptor says so
            log.warning("%s does not support float16; running in float32", model.describe())
            half = False
        self.half = bool(half) and self.device.type == "cuda"
        if half and not self.half:
            log.warning("half=true needs a CUDA device; running in float32 on %s", self.device)
        # Channels-last convolutions are 2-5x faster on CPU (oneDNN) and use tensor cores on GPU.
        self.net = model.net.to(self.device, memory_format=torch.channels_last).eval()
        if self.half:
            self.net = self.net.half()
        self.scale = int(model.scale)
        self.tile = int(tile) if tile else None
        self.tile_overlap = int(tile_overlap)

    def _run_net(self, x):
        import torch

        if self.half:
            return self.net(x.half()).float()
        return self.net(x.to(torch.float32))

    def colour_fn(self, channels: int, max_value: int) -> Callable:
        """Tile function: ``(1, C, h, w)`` integer colour -> ``(1, C, s*h, s*w)`` integer, on CPU."""
        import torch

        from srlab.colour import rgb_to_ycbcr, ycbcr_to_rgb
        from srlab.degradations.resize import imresize

        model_channels = self.model.in_channels
        out_dtype = torch.uint8 if max_value == 255 else torch.uint16

        def fn(tile: torch.Tensor) -> torch.Tensor:
            x = tile.to(device=self.device, dtype=torch.float32) / max_value
            if model_channels == 1 and channels == 3:
                ycc = rgb_to_ycbcr(x)
                y = self._run_net(ycc[:, :1])
                cbcr = imresize(ycc[:, 1:], self.scale)  # chroma from the protocol's bicubic
                sr = ycbcr_to_rgb(torch.cat([y, cbcr], dim=1))
            elif model_channels == channels:
                sr = self._run_net(x)
            elif model_channels == 3 and channels == 1:
                sr = self._run_net(x.expand(-1, 3, -1, -1)).mean(dim=1, keepdim=True)
            else:
                raise SrlabError(
                    f"cannot feed a {channels}-channel image to a {model_channels}-channel model"
                )
            return torch.floor(sr.clamp(0, 1) * max_value + 0.5).to(torch.int32).to(out_dtype).cpu()

        return fn

    def alpha_fn(self, max_value: int) -> Callable:
        """Tile function for alpha: the protocol's bicubic, rounded to the input's integer grid."""
        import torch

        from srlab.degradations.resize import imresize

        out_dtype = torch.uint8 if max_value == 255 else torch.uint16

        def fn(tile: torch.Tensor) -> torch.Tensor:
            x = tile.to(device=self.device, dtype=torch.float32) / max_value
            a = imresize(x, self.scale)
            return torch.floor(a.clamp(0, 1) * max_value + 0.5).to(torch.int32).to(out_dtype).cpu()

        return fn

    def upscale(self, image):
        """``ImageData`` -> ``(s*H, s*W, C[+1])`` array of the input's dtype (alpha last)."""
        import numpy as np
        import torch

        from srlab.tiling import tiled_forward

        s, c = self.scale, image.channels
        total = c + (image.alpha is not None)
        out = np.empty((image.height * s, image.width * s, total), dtype=image.pixels.dtype)
        out_view = torch.from_numpy(out).permute(2, 0, 1)[
            None
        ]  # (1, C_total, sH, sW), shares memory
        colour = torch.from_numpy(image.pixels).permute(2, 0, 1)[None]  # (1, C, H, W) integer view
        with torch.inference_mode():
            tiled_forward(
                self.colour_fn(c, image.max_value),
                colour,
                s,
                self.tile,
                self.tile_overlap,
                out=out_view[:, :c],
            )
            if image.alpha is not None:
                alpha = torch.from_numpy(image.alpha)[None, None]
                tiled_forward(
                    self.alpha_fn(image.max_value),
                    alpha,
                    s,
                    self.tile,
                    self.tile_overlap,
                    out=out_view[:, c:],
                )
        return out


# ---------------------------------------------------------------------------- files
def list_inputs(input_path: str | Path) -> list[Path]:
    """The image files ``input=`` names: one file, or the images directly inside a folder.

    In a folder, hidden files and files without an image extension are ignored (and logged).
    """
    from srlab.imagefile import INPUT_EXTENSIONS, is_input_image

    path = Path(input_path).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        entries = sorted(p for p in path.iterdir() if p.is_file())
        files = [p for p in entries if is_input_image(p) and not p.name.startswith(".")]
        ignored = [p.name for p in entries if p not in files]
        if ignored:
            shown = ", ".join(ignored[:5]) + (
                f" and {len(ignored) - 5} more" if len(ignored) > 5 else ""
            )
            log.info(
                "ignoring %d file(s) in %s that are hidden or not images: %s",
                len(ignored),
                path,
                shown,
            )
        if not files:
            raise SrlabError(f"no images in {path} (looked for {', '.join(INPUT_EXTENSIONS)})")
        return files
    raise SrlabError(f"input not found: {path}")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def output_names(inputs: list[Path]) -> list[str]:
    """``<stem>.png`` per input; inputs sharing a stem get ``<stem>_<ext>.png``; names that would
    still clash (also compared case-insensitively, as on macOS/Windows disks) get ``_2``, ``_3``."""
    stems: dict[str, int] = {}
    for p in inputs:
        stems[p.stem] = stems.get(p.stem, 0) + 1
    taken: set[str] = set()
    names = []
    for p in inputs:
        base = p.stem if stems[p.stem] == 1 else f"{p.stem}_{p.suffix.lstrip('.').lower()}"
        name, k = base, 2
        while name.lower() in taken:
            name, k = f"{base}_{k}", k + 1
        taken.add(name.lower())
        names.append(f"{name}.png")
    return names


def output_paths(inputs: list[Path], output_dir: Path) -> list[Path]:
    """``OUTPUT/<name>.png`` per input (names from :func:`output_names`).

    Raises:
        SrlabError: the output folder is an input's folder (also through a link), it is not a
            folder, or an existing output is an input (a link to it) or a folder.
    """
    output_dir = output_dir.expanduser().resolve()
    input_dirs = {p.resolve().parent for p in inputs}
    if output_dir in input_dirs or any(_same_file(output_dir, d) for d in input_dirs):
        raise SrlabError(
            f"output={output_dir} is the folder the inputs are in; srlab.infer never writes into the "
            "input folder: pick another output folder"
        )
    if output_dir.exists() and not output_dir.is_dir():
        raise SrlabError(f"output={output_dir} exists and is not a folder")
    outs = [output_dir / name for name in output_names(inputs)]
    if output_dir.is_dir():
        for src, out in zip(inputs, outs, strict=True):
            if not (out.exists() or out.is_symlink()):
                continue
            victim = next((p for p in inputs if _same_file(out, p)), None)
            if victim is not None:
                raise SrlabError(
                    f"refusing to overwrite the input {victim}: the output {out} is the same file "
                    "(a link to it); remove that link or pick another output folder"
                )
            if out.is_dir():
                raise SrlabError(
                    f"the output {out} for {src.name} is a folder; remove it or rename it"
                )
    return outs


def remove_stale_temporaries(
    output_dir: Path, outputs: list[Path], min_age_s: float = 60.0
) -> list[Path]:
    """Delete the temporary files (``.<name>.png.<random>.tmp``, see
    :func:`srlab.imagefile.write_png`) that a killed run left for these outputs; returns them.

    Only files untouched for ``min_age_s`` go: another run writing into the same folder right now
    keeps its own.
    """
    if not output_dir.is_dir():
        return []
    names = {o.name for o in outputs}
    now = time.time()
    removed = []
    for entry in output_dir.iterdir():
        n = entry.name
        if n.startswith(".") and n.endswith(".tmp") and n[1:-4].rpartition(".")[0] in names:
            with contextlib.suppress(OSError):
                if now - entry.stat().st_mtime >= min_age_s:
                    entry.unlink()
                    removed.append(entry)
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted run", len(removed))
    return removed


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
    from srlab.errors import ImageReadError
    from srlab.imagefile import read_image_file, write_png

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
    # tile=auto / tile_overlap=auto: the model's defaults (spandrel's tiling hint, window size).
    tile, overlap = resolve_tiling(model.net, cfg.get("tile"), cfg.get("tile_overlap", "auto"))
    upscaler = Upscaler(model, device, cfg.get("half", False), tile, overlap)
    log.info(
        "model: %s on %s%s; tiles of %s LR px (overlap %d)",
        model.describe(),
        device,
        " (float16)" if upscaler.half else "",
        tile or "whole-image",
        upscaler.tile_overlap,
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
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SrlabError(f"cannot create the output folder {output_dir}: {e}") from e
    remove_stale_temporaries(output_dir, outputs)
    stats = InferStats()
    alpha_noted = False
    present_set = set(present)
    with (
        logging_redirect_tqdm(),
        tqdm(total=len(inputs), unit="img", desc="upscaling", file=sys.stderr) as bar,
    ):
        for src, dst in zip(inputs, outputs, strict=True):
            if existing == "skip" and dst in present_set:
                stats.skipped.append(src)
                bar.update(1)
                continue
            try:
                image = read_image_file(src)
            except ImageReadError as e:  # the message names the file
                log.error("skipping %s", e)
                stats.failed.append((src, str(e)))
                bar.update(1)
                continue
            if image.alpha is not None and not alpha_noted:
                log.info(
                    "alpha channels are upscaled separately with bicubic (first: %s)", src.name
                )
                alpha_noted = True
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            out = upscaler.upscale(image)
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
            bar.update(1)
    skipped = f"; {len(stats.skipped)} skipped (existing=skip)" if stats.skipped else ""
    print(f"[srlab] infer: {stats.summary()}{skipped}; outputs in {output_dir}", flush=True)
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
    _hydra_main()


if __name__ == "__main__":
    main()
