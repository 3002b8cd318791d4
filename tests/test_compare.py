"""srlab.compare: paired bootstrap, paper tables (markdown/CSV/LaTeX), figure, viewer files, and
srlab.report's seed groups. Everything on tiny generated images and hand-made checkpoints."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import run_module, save_srlab_checkpoint, write_images


# ---------------------------------------------------------------------------- helpers
def sharpen_ckpt(path: Path, scale: int = 3, in_channels: int = 1, alpha: float = 0.5) -> Path:
    """An SRCNN checkpoint whose network is bicubic followed by an unsharp mask of strength alpha.

    ``alpha=0`` is exactly the bicubic image; a small alpha sharpens a little (about +0.1..0.3 dB on
    the generated images), so the comparison has realistic, known-sign differences.
    """
    from srlab.models.srcnn import SRCNN

    config = {
        "_target_": "srlab.models.srcnn.SRCNN",
        "scale": scale,
        "in_channels": in_channels,
        "f1": 9,
        "f2": 1,
        "f3": 5,
        "n1": 8,
        "n2": 4,
    }
    net = SRCNN(**{k: v for k, v in config.items() if k != "_target_"})
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        k = torch.zeros(9, 9)
        k[4, 4] = 1.0 + alpha
        k[3:6, 3:6] -= alpha / 9
        for c in range(in_channels):  # channel c -> feature c -> feature c -> output c
            net.conv1.weight[c, c] = k
            net.conv2.weight[c, c, 0, 0] = 1.0
            net.conv3.weight[c, c, 2, 2] = 1.0
    return save_srlab_checkpoint(path, net, config)


def make_inputs(tmp_path: Path) -> dict:
    """Two generated image folders (one grey image) and two x3 checkpoints (Y sharpen, RGB identity)."""
    data = tmp_path / "data"
    write_images(data / "gen", 3, size=(48, 57), seed=3, grey_every=3)
    write_images(data / "gen2", 2, size=(42, 45), seed=4)
    return {
        "sets": [str(data / "gen"), str(data / "gen2")],
        "sharp": sharpen_ckpt(tmp_path / "ckpts" / "sharp.ckpt", 3, 1, 0.6),
        "ident": sharpen_ckpt(tmp_path / "ckpts" / "ident.ckpt", 3, 3, 0.0),
    }


def seed_sweep(tmp_path: Path) -> Path:
    """A fake 2-model x 2-seed sweep in srlab.report's input layout (metrics.jsonl, summary.json)."""
    from tests.test_report import _job, _metrics_log

    sweep = tmp_path / "multirun" / "2026-02-01_10-00-00"
    common = ["data=folder", "data.scale=3"]
    curves = {
        ("srcnn_915", 1): [(100, 30.9, 0.87), (200, 31.4, 0.89)],
        ("srcnn_915", 2): [(100, 31.1, 0.88), (200, 31.6, 0.90)],
        ("srcnn", 1): [(100, 31.2, 0.88), (200, 32.0, 0.91)],
        ("srcnn", 2): [(100, 31.4, 0.89), (200, 32.4, 0.92)],
    }
    for k, ((model, seed), curve) in enumerate(curves.items()):
        job = _job(sweep, f"{k}_{model}", [f"model={model}", f"seed={seed}", *common])
        _metrics_log(job, curve, wall=60.0 + 10 * k)
    return sweep


# ---------------------------------------------------------------------------- bootstrap
@pytest.mark.parametrize("d,n", [(0.1, 5), (0.1, 14), (1 / 3, 100), (-0.07, 7), (2.5, 1)])
def test_bootstrap_of_a_constant_difference_is_exactly_degenerate(d, n):
    from srlab.comparison.stats import paired_bootstrap

    stats = paired_bootstrap(np.full(n, d), resamples=3000, seed=1)
    assert (stats.mean, stats.low, stats.high) == (d, d, d)  # exact, not approx
    assert stats.n == n and stats.improved == (n if d > 0 else 0)


def test_bootstrap_paired_over_images_with_a_constant_gain():
    """Scores that differ per image but the model is +0.1 dB on every one: [0.1, 0.1]."""
    from srlab.comparison.stats import paired_delta

    ref = np.random.default_rng(0).uniform(25, 35, size=12)
    delta, stats = paired_delta(ref + 0.1, ref, resamples=5000, seed=3)
    assert delta.shape == (12,)
    assert stats.mean == pytest.approx(0.1, abs=1e-12)
    assert stats.low == pytest.approx(0.1, abs=1e-12) and stats.high == pytest.approx(
        0.1, abs=1e-12
    )
    assert stats.improved == 12
    with pytest.raises(ValueError, match="same images"):
        paired_delta(ref[:3], ref)


def test_bootstrap_zero_mean_covers_zero_and_is_seeded():
    from srlab.comparison.stats import paired_bootstrap

    rng = np.random.default_rng(7)
    delta = rng.normal(0, 0.2, size=30)
    delta -= delta.mean()
    a = paired_bootstrap(delta, resamples=4000, seed=5, confidence=0.95)
    assert a.low < 0 < a.high and abs(a.mean) < 1e-12
    # The half-width is about 1.96 standard errors of the mean.
    se = delta.std(ddof=1) / np.sqrt(delta.size)
    assert (a.high - a.low) / 2 == pytest.approx(1.96 * se, rel=0.15)
    assert paired_bootstrap(delta, resamples=4000, seed=5) == a
    assert paired_bootstrap(delta, resamples=4000, seed=6) != a
    narrow = paired_bootstrap(delta, resamples=4000, seed=5, confidence=0.5)
    assert a.low < narrow.low < narrow.high < a.high


def test_bootstrap_of_two_images_and_non_finite_entries():
    """Two images: the resampled means are d1, (d1+d2)/2, d2 with 1/4, 1/2, 1/4, so the 95%
    interval is exactly [d1, d2]; an image reproduced exactly (PSNR inf) is left out of n."""
    from srlab.comparison.stats import paired_bootstrap

    stats = paired_bootstrap([-1.0, 1.0], resamples=4000, seed=0)
    assert (stats.low, stats.high, stats.mean, stats.improved) == (-1.0, 1.0, 0.0, 1)
    stats = paired_bootstrap([0.2, float("inf"), 0.2, float("nan")], resamples=100)
    assert (stats.n, stats.low, stats.high) == (2, 0.2, 0.2)


# ---------------------------------------------------------------------------- tables
def _hand_comparison():
    from srlab.comparison.results import Comparison, ModelScore, SetComparison
    from srlab.comparison.stats import paired_delta

    names = ["a", "b", "c", "d"]
    ref = [30.0, 31.0, 29.0, 33.0]
    models = {
        "bicubic": ref,
        "my_net 50% & #1 {x}~^\\": [30.3, 31.1, 29.2, 33.2],  # every LaTeX special character
        "SRCNN": [30.12, 31.0, 29.36, 32.8],
    }
    scores = {}
    for label, psnr in models.items():
        rows = [
            {"name": n, "psnr": p, "ssim": 0.9 + p / 1000} for n, p in zip(names, psnr, strict=True)
        ]
        s = ModelScore(
            label, float(np.mean(psnr)), float(np.mean([r["ssim"] for r in rows])), 4, rows
        )
        if label != "bicubic":
            delta, s.delta = paired_delta(psnr, ref, resamples=2000, seed=0)
            s.delta_per_image = list(delta)
        scores[label] = s
    group = SetComparison("Set_5", 3, names, scores)
    sets = [group, SetComparison("Set14", 3, names, scores)]
    return Comparison(list(models), "bicubic", sets, resamples=2000, seed=0)


def _cells(line: str) -> list[str]:
    return re.split(r"(?<!\\)&", line.rstrip().removesuffix("\\\\"))


def test_latex_table_is_well_formed_escapes_names_and_marks_the_best():
    from srlab.comparison.tables import latex_escape, latex_table

    cmp = _hand_comparison()
    tex = latex_table(cmp)
    # Environments balanced and nested table > tabular; booktabs rules in order, inside tabular.
    stack = []
    for kind, env in re.findall(r"\\(begin|end)\{(\w+)\}", tex):
        if kind == "begin":
            stack.append(env)
        else:
            assert stack and stack.pop() == env
    assert stack == []
    assert re.findall(r"\\begin\{(\w+)\}", tex) == ["table", "tabular"]
    order = [
        tex.index(k)
        for k in (r"\begin{tabular}", r"\toprule", r"\midrule", r"\bottomrule", r"\end{tabular}")
    ]
    assert order == sorted(order) and all(
        tex.count(r) == 1 for r in (r"\toprule", r"\midrule", r"\bottomrule")
    )
    unescaped = tex.replace(r"\{", "").replace(r"\}", "")
    depth = 0
    for ch in unescaped:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0
    assert depth == 0
    # Names escaped (set names too); the raw name appears nowhere.
    escaped = r"my\_net 50\% \& \#1 \{x\}\textasciitilde{}\textasciicircum{}\textbackslash{}"
    assert latex_escape("my_net 50% & #1 {x}~^\\") == escaped
    assert escaped in tex and "my_net" not in tex and r"Set\_5 $\times$3" in tex
    # Every body row has 1 + 4 cells per set.
    body = tex.split(r"\midrule")[1].split(r"\bottomrule")[0].strip().splitlines()
    assert len(body) == 3 and all(len(_cells(line)) == 1 + 4 * 2 for line in body)
    assert all(len(_cells(line)) == 9 for line in tex.splitlines() if line.startswith("Model &"))
    rows = {_cells(line)[0].strip(): _cells(line) for line in body}
    mine, srcnn, bic = rows[escaped], rows["SRCNN"], rows["bicubic"]
    # PSNR: mine 30.95 > SRCNN 30.82 > bicubic 30.75: bold, underlined, plain.
    assert mine[1].strip() == r"\textbf{30.95}" and srcnn[1].strip() == r"\underline{30.82}"
    assert bic[1].strip() == "30.75"
    # ΔPSNR: +0.20 with its interval, bold (best of the two); the reference says so.
    assert re.fullmatch(r"\\textbf\{\$\+\$0\.20\} \[0\.\d\d, 0\.\d\d\]", mine[3].strip())
    assert srcnn[3].strip().startswith("$+$0.07 [$-$0.") and bic[3].strip() == "ref."
    assert (
        mine[4].strip() == r"\textbf{4/4}" and srcnn[4].strip() == "2/4" and bic[4].strip() == "--"
    )
    assert "2000 resamples" in tex and "seed 0" in tex and r"95\%" in tex


def test_latex_table_compiles_with_pdflatex(tmp_path):
    """Where a TeX installation exists, the table (with every special character in a name)
    compiles in a minimal document with booktabs."""
    import shutil
    import subprocess

    from srlab.comparison.tables import latex_table

    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        pytest.skip("pdflatex not installed (apt-get install texlive-latex-recommended)")
    (tmp_path / "table.tex").write_text(latex_table(_hand_comparison()))
    (tmp_path / "doc.tex").write_text(
        "\\documentclass{article}\n\\usepackage[margin=1cm,landscape]{geometry}\n"
        "\\usepackage{booktabs}\n\\begin{document}\n\\input{table.tex}\n\\end{document}\n"
    )
    proc = subprocess.run(
        [pdflatex, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 1000


def test_viewer_data_cannot_end_its_script_element(tmp_path):
    """A label with "</script>" stays inside the inline JSON (escaped), and reads back intact."""
    from srlab.comparison.viewer import write_viewer

    cmp = _hand_comparison()
    evil = "net</script><script>alert(1)</script>"
    cmp.models[1] = evil
    for g in cmp.sets:
        if evil not in g.scores:  # both sets share one scores dict
            g.scores[evil] = g.scores.pop("my_net 50% & #1 {x}~^\\")
        for name in g.images:
            g.sizes[name] = (8, 8)
            g.files[name] = {"HR": "images/x.png"}
    html = write_viewer(tmp_path, cmp).read_text()
    assert "</script><script>alert" not in html
    blob = re.search(r'id="srlab-data">(.*?)</script>', html, re.S).group(1)
    assert json.loads(blob)["comparison"]["models"][1] == evil


def test_markdown_and_csv_tables(tmp_path):
    import csv

    from srlab.comparison.tables import write_tables

    cmp = _hand_comparison()
    paths = write_tables(cmp, tmp_path)
    md = paths["markdown"].read_text().splitlines()
    assert md[0].startswith("| Model | Set_5 x3 PSNR | Set_5 x3 SSIM | Set_5 x3 ΔPSNR [95% CI]")
    mine = next(line for line in md if line.startswith("| my_net"))
    assert "| **30.95** |" in mine and "| **+0.20** [" in mine and "| **4/4** |" in mine
    assert "2000 resamples over images, seed 0" in paths["markdown"].read_text()
    with open(paths["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 and rows[0]["model"] == "bicubic" and rows[0]["delta_psnr"] == ""
    assert float(rows[1]["delta_psnr"]) == pytest.approx(0.2) and rows[1]["resamples"] == "2000"
    with open(paths["per_image_csv"]) as f:
        assert len(list(csv.DictReader(f))) == 2 * 3 * 4


# ---------------------------------------------------------------------------- the command
def run_compare_cli(tmp_path: Path) -> dict:
    """``python -m srlab.compare`` with two checkpoints and bicubic on two generated folders, and a
    fake seed sweep for the viewer's training view (the ``compare_run`` session fixture)."""
    inp = make_inputs(tmp_path)
    out = tmp_path / "out"
    proc = run_module(
        "srlab.compare",
        [
            f"models=[{inp['sharp']},{inp['ident']},bicubic]",
            f"data.sets=[{','.join(inp['sets'])}]",
            "data.scales=[3]",
            "reference=bicubic",
            "bootstrap.resamples=500",
            "device=cpu",
            f"sweeps=[{seed_sweep(tmp_path)}]",
            f"out={out}",
            f"paths.experiments_dir={tmp_path / 'exp'}",
        ],
        cwd=tmp_path,
    )
    return {"proc": proc, "out": out, **inp}


def test_compare_command_writes_every_file(compare_run):
    from PIL import Image

    from srlab.data.sources import FolderImages
    from srlab.models.bicubic import Bicubic
    from srlab.protocol.scoring import evaluate_source

    proc, out, inp = compare_run["proc"], compare_run["out"], compare_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| sharp |" in proc.stdout and "Traceback" not in proc.stderr
    for name in (
        "table.md",
        "table.csv",
        "table.tex",
        "per_image.csv",
        "comparison.json",
        "figure_x3.png",
        "figure_x3.pdf",
        "index.html",
    ):
        assert (out / name).is_file() and (out / name).stat().st_size > 100, name
    assert (out / "figure_x3.pdf").read_bytes()[:5] == b"%PDF-"
    fig = Image.open(out / "figure_x3.png")
    assert fig.width > 1000 and fig.height > 400  # 2 rows of HR + 3 models + HR crop

    result = json.loads((out / "comparison.json").read_text())
    assert (
        result["models"] == ["sharp", "ident", "bicubic"]
        and result["bootstrap"]["resamples"] == 500
    )
    gen = result["sets"][0]
    assert (gen["dataset"], gen["scale"], gen["images"]) == (
        "gen",
        3,
        ["img_000", "img_001", "img_002"],
    )
    # The scores are srlab.evaluation's: bicubic equals evaluate_source on the same folder.
    want = evaluate_source(Bicubic(3, 3), FolderImages(inp["sets"][0]), 3, device="cpu")
    assert gen["models"]["bicubic"]["psnr"] == pytest.approx(want.psnr, abs=1e-9)
    # The RGB identity network is bicubic: zero difference on every image, a [0, 0] interval.
    ident = gen["models"]["ident"]
    assert [r["delta"] for r in ident["per_image"]] == [0.0, 0.0, 0.0]
    assert (ident["delta"], ident["ci_low"], ident["ci_high"], ident["improved"]) == (
        0.0,
        0.0,
        0.0,
        0,
    )
    sharp = gen["models"]["sharp"]
    assert sharp["ci_low"] <= sharp["delta"] <= sharp["ci_high"] and sharp["n"] == 3
    assert sharp["delta"] == pytest.approx(np.mean([r["delta"] for r in sharp["per_image"]]))

    # Viewer images: HR, each model's output and error map, per image; Y-only output in colour.
    for group, images in (("gen_x3", 3), ("gen2_x3", 2)):
        folders = sorted((out / "images" / group).iterdir())
        assert len(folders) == images
        for folder in folders:
            names = {p.name for p in folder.iterdir()}
            assert names == {"hr.png"} | {
                f"{k}_{m}.png" for k in ("sr", "err") for m in ("sharp", "ident", "bicubic")
            }
    colour = np.asarray(Image.open(out / "images/gen_x3/img_000/sr_sharp.png")).astype(int)
    grey = np.asarray(Image.open(out / "images/gen_x3/img_002/sr_sharp.png")).astype(int)
    assert colour.shape == (48, 57, 3) and np.abs(colour[..., 0] - colour[..., 2]).mean() > 5
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    same = [
        np.asarray(Image.open(out / f"images/gen_x3/img_000/err_{m}.png"))
        for m in ("ident", "bicubic")
    ]
    assert (same[0] == same[1]).all()
    html = (out / "index.html").read_text()
    assert "images/gen_x3/img_000/sr_sharp.png" in html  # data inline, images beside the page
    # Nothing from the network: no external script, style sheet, font or image.
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html)
    assert "<link" not in html and "@import" not in html and "url(" not in html


def test_compare_scales_skip_and_refuse(tmp_path):
    """A checkpoint is used at its own scale: skipped (noted) at another requested scale, refused
    when none of the requested scales is its own; the reference must be a model."""
    from srlab.comparison.runner import BootstrapSettings, FigureSettings, run_comparison
    from srlab.errors import ConfigError

    inp = make_inputs(tmp_path)
    x2 = sharpen_ckpt(tmp_path / "ckpts" / "x2.ckpt", 2, 1, 0.3)
    common = dict(
        sets=inp["sets"][1:], bootstrap=BootstrapSettings(200), device="cpu", viewer=False
    )
    cmp, written = run_comparison(
        [str(x2), str(inp["sharp"])],
        out_dir=tmp_path / "o1",
        scales=[2, 3],
        figure=FigureSettings(images=["gen2/img_001"], boxes=[[3, 6, 20, 14]]),
        **common,
    )
    assert cmp.models == ["x2", "sharp", "bicubic"]  # bicubic added
    assert [(g.scale, sorted(g.scores)) for g in cmp.sets] == [
        (2, ["bicubic", "x2"]),
        (3, ["bicubic", "sharp"]),
    ]
    assert any("x2 skipped at x3" in n for n in cmp.notes) and any(
        "sharp skipped at x2" in n for n in cmp.notes
    )
    md = written["markdown"].read_text()
    assert "| x2 |" in md and "| – | – | – | – |" in md and "Note: x2 skipped at x3" in md
    assert {"figure_x2_png", "figure_x3_pdf"} <= set(written)

    with pytest.raises(ConfigError, match=r"x2 \(.*\) is a x2 checkpoint .* data.scales=\[3\]"):
        run_comparison([str(x2)], out_dir=tmp_path / "o2", scales=[3], **common)
    with pytest.raises(ConfigError, match="reference='nope' is none of the models"):
        run_comparison([str(inp["sharp"])], out_dir=tmp_path / "o3", reference="nope", **common)
    with pytest.raises(ConfigError, match="figure.boxes"):
        run_comparison(
            [str(inp["sharp"])],
            out_dir=tmp_path / "o4",
            figure=FigureSettings(images=["img_001"], boxes=[[30, 30, 20, 20]]),
            **common,
        )


# ---------------------------------------------------------------------------- seed groups
def test_report_groups_runs_that_differ_only_by_seed(tmp_path):
    from srlab.report import report

    sweep = seed_sweep(tmp_path)
    md_path, _, runs = report(sweep)
    text = md_path.read_text()
    assert "## Seed groups" in text
    section = text.split("## Seed groups")[1]
    rows = [
        line.split(" | ")
        for line in section.splitlines()
        if line.startswith("| ") and line[2].isdigit()
    ]
    assert len(rows) == 2
    (best, other) = rows
    assert best[1] == "`model=srcnn`" and best[2] == "2" and best[3] == "1, 2"
    # mean ± sample std of the best val PSNRs 32.0 and 32.4 (std = 0.4 / sqrt 2).
    assert (
        best[4] == f"32.200 ± {0.4 / np.sqrt(2):.3f}"
        and best[5] == f"0.9150 ± {0.01 / np.sqrt(2):.4f}"
    )
    assert (
        other[1] == "`model=srcnn_915`"
        and other[2] == "2"
        and other[4] == f"31.500 ± {0.2 / np.sqrt(2):.3f}"
    )

    html = (sweep / "report.html").read_text()
    blob = json.loads(re.search(r'id="srlab-data">(.*?)</script>', html, re.S).group(1))
    groups = blob["training"]["groups"]
    assert [(g["label"], g["n"]) for g in groups] == [("model=srcnn", 2), ("model=srcnn_915", 2)]
    step = groups[0]["step"]
    assert step["x"] == [100, 200] and step["mean"] == pytest.approx([31.3, 32.2])
    assert step["std"] == pytest.approx([0.2 / np.sqrt(2), 0.4 / np.sqrt(2)])
    time = groups[0]["time"]  # wall times of the two seeds' validations, averaged
    assert time["x"] == pytest.approx([(40 + 45) / 2, (80 + 90) / 2]) and time["n"] == [2, 2]


def test_report_without_seeds_has_no_seed_section(tmp_path):
    from srlab.report import report
    from tests.test_report import _job, _metrics_log

    sweep = tmp_path / "sweep"
    _metrics_log(_job(sweep, "0_a", ["model=srcnn"]), [(100, 31.0, 0.9)], wall=10)
    md_path, _, _ = report(sweep)
    assert "Seed groups" not in md_path.read_text() and (sweep / "report.html").is_file()


@pytest.mark.slow
def test_report_on_a_real_two_seed_two_model_multirun(tmp_path, image_dirs):
    from srlab.report import report
    from tests.conftest import fast_overrides

    exp = tmp_path / "experiments"
    proc = run_module(
        "srlab.train",
        [
            "-m",
            "model=srcnn_915,srcnn",
            "seed=1,2",
            f"paths.experiments_dir={exp}",
            *fast_overrides(*image_dirs, steps=2),
        ],
        cwd=tmp_path,
        timeout=600,
        env={"SRLAB_DATA_DIR": str(tmp_path / "nodata")},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep,) = exp.glob("multirun/*")
    md_path, _, runs = report(sweep)
    assert len(runs) == 4
    section = md_path.read_text().split("## Seed groups")[1]
    rows = [
        line.split(" | ")
        for line in section.splitlines()
        if line.startswith("| ") and line[2].isdigit()
    ]
    assert sorted(r[1] for r in rows) == ["`model=srcnn_915`", "`model=srcnn`"]
    assert [r[2] for r in rows] == ["2", "2"] and all(r[3] == "1, 2" for r in rows)
    assert all(" ± " in r[4] for r in rows)


def test_item08_compare_scores_grey_images_as_rgb_on_request(tmp_path):
    """srlab.compare takes evaluate's grey_as_rgb too, and says so in the tables' protocol."""
    import math

    from srlab.comparison.results import Comparison
    from srlab.comparison.runner import load_models, score_sets
    from srlab.data.sources import FolderImages

    write_images(tmp_path / "imgs", 2, size=(30, 33), seed=4, grey_every=2)  # one grey
    (entry,) = load_models(["bicubic"], None)
    source = [("imgs", FolderImages(tmp_path / "imgs"))]
    scores = {}
    for grey_as_rgb in (False, True):
        (group,), _ = score_sets(
            [entry], source, [3], entry, tmp_path / f"out{grey_as_rgb}", device="cpu",
            grey_as_rgb=grey_as_rgb,
        )  # fmt: skip
        scores[grey_as_rgb] = group.scores[entry.label].psnr
    assert scores[True] - scores[False] == pytest.approx(20 * math.log10(255 / 219) / 2, abs=1e-9)
    assert "greyscale images as RGB" in Comparison([], "bicubic", [], grey_as_rgb=True).protocol()
