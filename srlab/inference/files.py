"""Which files ``srlab.infer`` reads and writes: inputs in a folder, output names that never clash
or overwrite an input, and the temporary files an interrupted run left behind."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

from srlab.data.imageio import IMAGE_EXTENSIONS, is_image_file
from srlab.errors import SrlabError

log = logging.getLogger("srlab.infer")


def list_inputs(input_path: str | Path) -> list[Path]:
    """The image files ``input=`` names: one file, or the images directly inside a folder.

    In a folder, hidden files and files without an image extension are ignored (and logged).
    """
    path = Path(input_path).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        entries = sorted(p for p in path.iterdir() if p.is_file())
        files = [p for p in entries if is_image_file(p) and not p.name.startswith(".")]
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
            raise SrlabError(f"no images in {path} (looked for {', '.join(IMAGE_EXTENSIONS)})")
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
    :func:`srlab.data.imagefile.write_png`) that a killed run left for these outputs; returns them.

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
