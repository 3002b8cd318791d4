"""The paper table of a comparison: markdown, CSV and a LaTeX ``booktabs`` table.

One row per model, one column group per (set, scale): mean PSNR, mean SSIM, mean ΔPSNR against the
reference with its paired bootstrap interval, and the number of images the model improves. The best
value of each column is bold (second best: italic in markdown, underlined in LaTeX, when a column has
at least three entries); values are ranked as displayed, so ties at the shown precision share a mark.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

from srlab.comparison.results import Comparison, ModelScore, SetComparison

__all__ = ["latex_escape", "latex_table", "markdown_table", "write_csv", "write_tables"]

METRICS = ("psnr", "ssim", "delta", "improved")
_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters ``\\ & % $ # _ { } ~ ^`` in one pass (no double escaping)."""
    return re.sub(r"[\\&%$#_{}~^]", lambda m: _LATEX_SPECIALS[m.group(0)], str(text))


def _num(value: float, digits: int, sign: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    text = f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"
    if float(text) == 0.0:  # no "-0.00" / "+0.00"
        text = text.replace("-", "+") if sign else text.lstrip("-")
    return text


def _value(score: ModelScore | None, metric: str, digits: int, reference: bool) -> float | None:
    """The value a column is ranked by, rounded as displayed (``None``: not ranked)."""
    if score is None:
        return None
    if metric == "psnr":
        return round(score.psnr, digits) if math.isfinite(score.psnr) else None
    if metric == "ssim":
        return round(score.ssim, 4) if math.isfinite(score.ssim) else None
    if reference or score.delta is None or score.delta.n == 0:
        return None
    if metric == "delta":
        return round(score.delta.mean, digits) if math.isfinite(score.delta.mean) else None
    return score.delta.improved / score.delta.n


def _ranks(cmp: Comparison, group: SetComparison, metric: str, digits: int) -> dict[str, int]:
    """``{model: 1}`` for the best value of a column, ``{model: 2}`` for the second best."""
    values = {
        m: v
        for m in cmp.models
        if (v := _value(group.scores.get(m), metric, digits, m == cmp.reference)) is not None
    }
    distinct = sorted(set(values.values()), reverse=True)
    ranks = {m: 1 for m, v in values.items() if distinct and v == distinct[0]}
    if len(values) >= 3 and len(distinct) >= 2:
        ranks.update({m: 2 for m, v in values.items() if v == distinct[1]})
    return ranks


def _cells(score: ModelScore | None, digits: int, reference: bool) -> dict[str, tuple[str, str]]:
    """Display text of each metric: ``(main part, rest)`` so a mark can wrap the main part."""
    if score is None:
        return {m: ("–", "") for m in METRICS}
    cells = {"psnr": (_num(score.psnr, digits), ""), "ssim": (_num(score.ssim, 4), "")}
    if reference:
        cells["delta"], cells["improved"] = ("reference", ""), ("–", "")
    elif score.delta is None or score.delta.n == 0:
        cells["delta"], cells["improved"] = ("n/a", ""), ("n/a", "")
    else:
        d = score.delta
        cells["delta"] = (
            _num(d.mean, digits, sign=True),
            f" [{_num(d.low, digits)}, {_num(d.high, digits)}]",
        )
        cells["improved"] = (f"{d.improved}/{d.n}", "")
    return cells


def notes(cmp: Comparison, markdown: bool = True) -> str:
    """What the table's numbers are, how the interval was computed, what the marks mean."""
    second = "italic" if markdown else "underlined"
    return (
        f"{cmp.protocol()}. Improved: images where the model's PSNR is above {cmp.reference}'s. "
        f"Best value per column in bold, second best {second} (columns of three or more)."
    )


def markdown_table(cmp: Comparison, digits: int = 2) -> str:
    """The paper table as markdown, with the notes below it."""
    ci = f"{100 * cmp.confidence:g}% CI"
    header, align = ["Model"], ["---"]
    for g in cmp.sets:
        header += [f"{g.key} PSNR", f"{g.key} SSIM", f"{g.key} ΔPSNR [{ci}]", f"{g.key} improved"]
        align += ["---:"] * 4
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    ranks = {(g.key, m): _ranks(cmp, g, m, digits) for g in cmp.sets for m in METRICS}
    for model in cmp.models:
        row = [model.replace("|", "\\|")]
        for g in cmp.sets:
            cells = _cells(g.scores.get(model), digits, model == cmp.reference)
            for metric in METRICS:
                main, rest = cells[metric]
                rank = ranks[(g.key, metric)].get(model)
                main = f"**{main}**" if rank == 1 else f"*{main}*" if rank == 2 else main
                row.append(main + rest)
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", notes(cmp, markdown=True)]
    lines += [f"Note: {n}." for n in cmp.notes]
    return "\n".join(lines) + "\n"


def _tex_signs(text: str) -> str:
    """Numbers in text mode: a real minus sign (and plus) instead of a hyphen."""
    return text.replace("-", "$-$").replace("+", "$+$")


def latex_table(
    cmp: Comparison,
    digits: int = 2,
    caption: str | None = None,
    label: str = "tab:sr-comparison",
) -> str:
    """A ``table`` with a ``booktabs`` ``tabular`` (needs ``\\usepackage{booktabs}``).

    Model and set names are escaped; ``caption`` (LaTeX, used as given) defaults to a sentence
    stating the protocol, the reference, the interval's level, resample count and seed.
    """
    ngroups = len(cmp.sets)
    ci = f"{100 * cmp.confidence:g}" + r"\%"
    if caption is None:
        caption = (
            r"Mean PSNR (dB) and SSIM on BT.601 Y ("
            + ("integer Y, " if cmp.round_y else "")
            + ("greyscale images as RGB, " if cmp.grey_as_rgb else "")
            + r"outputs rounded to uint8, $s$ pixels shaved at scale $\times s$). "
            + rf"$\Delta$PSNR: mean gain over {latex_escape(cmp.reference)} with its {ci} paired "
            + rf"bootstrap percentile interval over images ({cmp.resamples} resamples, seed "
            + rf"{cmp.seed}); $n_\uparrow$: images improved. Best in \textbf{{bold}}, second best "
            + r"\underline{underlined}."
        )
    lines = [
        r"% srlab.compare -- needs \usepackage{booktabs} in the preamble",
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\caption{{{caption}}}",
        rf"\label{{{label}}}",
        r"\begin{tabular}{l" + "cccc" * ngroups + "}",
        r"\toprule",
    ]
    groups = [
        rf"\multicolumn{{4}}{{c}}{{{latex_escape(g.dataset)} $\times${g.scale}}}" for g in cmp.sets
    ]
    lines.append(" & " + " & ".join(groups) + r" \\")
    lines.append(" ".join(rf"\cmidrule(lr){{{2 + 4 * i}-{5 + 4 * i}}}" for i in range(ngroups)))
    sub = rf"PSNR & SSIM & $\Delta$PSNR [{ci} CI] & $n_\uparrow$"
    lines.append("Model & " + " & ".join([sub] * ngroups) + r" \\")
    lines.append(r"\midrule")
    ranks = {(g.key, m): _ranks(cmp, g, m, digits) for g in cmp.sets for m in METRICS}
    for model in cmp.models:
        row = [latex_escape(model)]
        for g in cmp.sets:
            cells = _cells(g.scores.get(model), digits, model == cmp.reference)
            for metric in METRICS:
                main, rest = cells[metric]
                main, rest = _tex_signs(main), _tex_signs(rest)
                main = {"–": "--", "reference": "ref."}.get(main, main)
                rank = ranks[(g.key, metric)].get(model)
                if rank == 1:
                    main = rf"\textbf{{{main}}}"
                elif rank == 2:
                    main = rf"\underline{{{main}}}"
                row.append(main + rest)
        lines.append(" & ".join(row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


SUMMARY_COLUMNS = [
    "model",
    "spec",
    "dataset",
    "scale",
    "images",
    "psnr",
    "ssim",
    "reference",
    "delta_psnr",
    "ci_low",
    "ci_high",
    "confidence",
    "improved",
    "n",
    "resamples",
    "seed",
]
PER_IMAGE_COLUMNS = ["dataset", "scale", "image", "model", "psnr", "ssim", "delta_psnr"]


def _scored(cmp: Comparison):
    """``(set comparison, model, its score)`` for every model scored on every (set, scale)."""
    for g in cmp.sets:
        for model in cmp.models:
            if g.scores.get(model) is not None:
                yield g, model, g.scores[model]


def write_csv(cmp: Comparison, summary: Path, per_image: Path) -> None:
    """``summary``: one row per (model, set, scale), full precision; ``per_image``: every score."""
    with open(summary, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(SUMMARY_COLUMNS)
        for g, model, s in _scored(cmp):
            d = s.delta
            writer.writerow(
                [
                    model,
                    cmp.specs.get(model, ""),
                    g.dataset,
                    g.scale,
                    s.images,
                    s.psnr,
                    s.ssim,
                    cmp.reference,
                    "" if d is None else d.mean,
                    "" if d is None else d.low,
                    "" if d is None else d.high,
                    cmp.confidence,
                    "" if d is None else d.improved,
                    "" if d is None else d.n,
                    cmp.resamples,
                    cmp.seed,
                ]
            )
    with open(per_image, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(PER_IMAGE_COLUMNS)
        for g, model, s in _scored(cmp):
            for i, row in enumerate(s.per_image):
                delta = "" if s.delta_per_image is None else s.delta_per_image[i]
                writer.writerow(
                    [g.dataset, g.scale, row["name"], model, row["psnr"], row["ssim"], delta]
                )


def write_tables(
    cmp: Comparison,
    out: Path,
    digits: int = 2,
    caption: str | None = None,
    label: str = "tab:sr-comparison",
) -> dict[str, Path]:
    """Write ``table.md``, ``table.tex``, ``table.csv`` and ``per_image.csv`` into ``out``."""
    out = Path(out)
    paths = {
        "markdown": out / "table.md",
        "latex": out / "table.tex",
        "csv": out / "table.csv",
        "per_image_csv": out / "per_image.csv",
    }
    paths["markdown"].write_text(markdown_table(cmp, digits))
    paths["latex"].write_text(latex_table(cmp, digits, caption, label))
    write_csv(cmp, paths["csv"], paths["per_image_csv"])
    return paths
