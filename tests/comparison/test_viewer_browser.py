"""The comparison viewer in a real headless Chromium (Debian's, driven by Playwright).

The page of ``python -m srlab.compare`` (session fixture ``compare_run``) must load from disk with
no console error and no network request, its tables must sort, the before/after slider must move
the split and change the pixels shown, zoom and pan must apply to every panel, the error-map toggle
must swap the panels' images, and the training view must draw one mean line and band per seed
group. Screenshots are saved (and copied to ``$SRLAB_SCREENSHOT_DIR`` when set).

Chromium: ``$SRLAB_CHROMIUM``, else ``chromium``/``chromium-browser`` on PATH, else
``/usr/bin/chromium``; ``make browser`` installs Debian's package. Skipped without it.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium tries to reach Google's services (refused on a closed network).
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    candidates = [
        os.environ.get("SRLAB_CHROMIUM"),
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        "/usr/bin/chromium",
    ]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    pytest.skip(
        "Chromium not found (SRLAB_CHROMIUM, chromium on PATH, /usr/bin/chromium): "
        "`make browser` installs Debian's chromium package"
    )


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright not installed (pip install -e '.[dev]')"
    )
    executable = _chromium()
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _open(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    problems, requests = [], []
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_function(
        "Array.from(document.images).every(i => !i.src || (i.complete && i.naturalWidth > 0))"
    )
    return page, problems, requests


def _save(path: Path, name: str) -> None:
    target = os.environ.get("SRLAB_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / name)


def _transforms(page) -> list[tuple[float, float, float]]:
    """(scale, tx / panel width, ty / panel height) of every zoomed layer on the page."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.zoom-content')).map((c) => {
            const m = new DOMMatrix(getComputedStyle(c).transform);
            const vp = c.closest('.viewport');
            return [m.a, m.e / vp.clientWidth, m.f / vp.clientHeight];
        })"""
    )


def _column(page, table: str, col: str) -> list[float | None]:
    return page.evaluate(
        """([table, col]) => {
            const t = document.querySelector(table);
            const idx = Array.from(t.tHead.rows[0].cells).findIndex((th) => th.dataset.col === col);
            return Array.from(t.tBodies[0].rows).map((r) => {
                const v = r.cells[idx].dataset.value;
                return v === '' ? null : parseFloat(v);
            });
        }""",
        [table, col],
    )


def _png(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def test_viewer_in_chromium(browser, compare_run, tmp_path):
    assert compare_run["proc"].returncode == 0, compare_run["proc"].stderr[-2000:]
    index = compare_run["out"] / "index.html"
    page, problems, requests = _open(browser, index.resolve().as_uri())

    # Loads from disk only, without errors; every image is there.
    assert problems == []
    assert requests and all(u.startswith("file://") for u in requests), requests
    assert page.locator("#panels .panel").count() == 4  # HR + sharp + ident + bicubic

    # Tables sort: the per-image ΔPSNR of a model, descending then ascending; the models' table.
    page.click("#image-table th[data-col='delta:sharp']")
    values = _column(page, "#image-table", "delta:sharp")
    assert len(values) == 3 and values == sorted(values, reverse=True)
    names = page.eval_on_selector_all("#image-table tbody tr", "rs => rs.map(r => r.dataset.image)")
    page.click("#image-table th[data-col='delta:sharp']")
    assert _column(page, "#image-table", "delta:sharp") == sorted(values)
    assert (
        page.eval_on_selector_all("#image-table tbody tr", "rs => rs.map(r => r.dataset.image)")
        == names[::-1]
    )
    page.click("#summary-table th[data-col='delta']")
    order = page.eval_on_selector_all(
        "#summary-table tbody tr", "rs => rs.map(r => r.dataset.model)"
    )
    assert order == ["sharp", "ident", "bicubic"]  # +Δ, 0, then the reference (no Δ) last

    # A row selects the image shown.
    page.click("#image-table tbody tr[data-image='img_001']")
    assert "img_001" in page.inner_text("#image-title")
    assert page.get_attribute("#img-left", "src").endswith("img_001/sr_sharp.png")

    # The slider moves the split and changes the pixels shown (HR on the left, an error map right).
    page.select_option("#left-select", "HR")
    page.select_option("#right-select", "err/sharp")
    shots = {}
    for frac in (0.15, 0.85):
        page.locator("#slider").scroll_into_view_if_needed()
        box = page.locator("#slider").bounding_box()  # mouse coordinates: on screen
        page.mouse.click(box["x"] + frac * box["width"], box["y"] + box["height"] / 2)
        value = float(page.input_value("#slider"))
        assert abs(value - 100 * frac) < 6
        clip = page.eval_on_selector("#layer-left", "e => e.style.clipPath")
        assert clip == f"inset(0px {100 - value:g}% 0px 0px)" or f"{100 - value:g}%" in clip
        shots[frac] = _png(page.locator("#compare-view").screenshot())
    a, b = shots[0.15], shots[0.85]
    w = a.shape[1]
    middle = slice(int(0.3 * w), int(0.7 * w))  # left of the split at 0.85, right of it at 0.15
    assert np.abs(a[:, middle] - b[:, middle]).mean() > 10
    assert np.abs(a[:, : int(0.1 * w)] - b[:, : int(0.1 * w)]).mean() < 1  # HR both times

    # Zoom: the button zooms every panel about its centre; the wheel over one panel zooms all of
    # them; a drag on the big view pans all of them.
    page.click("#zoom-reset")
    page.click("#zoom-in")
    t = _transforms(page)
    assert len(t) == 2 + 4
    assert all(
        s == pytest.approx(2)
        and tx == pytest.approx(-0.5, abs=1e-3)
        and ty == pytest.approx(-0.5, abs=1e-3)
        for s, tx, ty in t
    )
    page.locator("#panels .panel[data-source='sr/ident']").scroll_into_view_if_needed()
    panel = page.locator("#panels .panel[data-source='sr/ident'] .viewport").bounding_box()
    page.mouse.move(panel["x"] + panel["width"] * 0.25, panel["y"] + panel["height"] * 0.25)
    page.mouse.wheel(0, -200)
    page.wait_for_function("document.querySelector('.zoom-content').dataset.zoom !== '2.0000'")
    t2 = _transforms(page)
    assert t2[0][0] > 2.5 and all(x == pytest.approx(t2[0], abs=1e-3) for x in t2)
    page.locator("#compare-view").scroll_into_view_if_needed()
    view = page.locator("#compare-view").bounding_box()
    page.mouse.move(view["x"] + view["width"] / 2, view["y"] + view["height"] / 2)
    page.mouse.down()
    page.mouse.move(
        view["x"] + view["width"] / 2 + 60, view["y"] + view["height"] / 2 + 40, steps=4
    )
    page.mouse.up()
    t3 = _transforms(page)
    assert t3[0][1] == pytest.approx(t2[0][1] + 60 / view["width"], abs=2e-3)
    assert all(x == pytest.approx(t3[0], abs=1e-3) for x in t3)
    assert page.inner_text("#zoom-level").startswith(f"{t3[0][0]:.1f}")

    # Error maps replace the models' panels (HR stays).
    page.check("#error-toggle")
    srcs = page.eval_on_selector_all(
        "#panels .panel img", "is => is.map(i => i.getAttribute('src'))"
    )
    assert srcs[0].endswith("/hr.png") and all(
        s.split("/")[-1].startswith("err_") for s in srcs[1:]
    )
    page.wait_for_function(
        "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
    )
    page.click("#zoom-reset")
    page.select_option("#left-select", "sr/sharp")
    page.select_option("#right-select", "sr/bicubic")
    page.fill("#slider", "50")
    page.click("#zoom-in")
    shot = tmp_path / "viewer_compare.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    _save(shot, "viewer_compare.png")

    # Training view: one mean line and one band per seed group; the x axis switches to wall time.
    page.click("#tab-training")
    assert page.locator("#training-plot path.mean").count() == 2
    assert page.locator("#training-plot path.band").count() == 2
    by_step = page.get_attribute("#training-plot path.mean[data-group='0']", "d")
    page.click("#x-time")
    assert page.get_attribute("#training-plot path.mean[data-group='0']", "d") != by_step
    assert "wall time" in page.inner_text("#view-training")
    rows = page.eval_on_selector_all(
        "#training-table tbody tr", "rs => rs.map(r => r.cells[1].textContent)"
    )
    assert rows == ["2", "2"]
    shot = tmp_path / "viewer_training.png"
    page.screenshot(path=str(shot), full_page=True)
    _save(shot, "viewer_training.png")
    assert problems == []
    page.close()


def test_report_page_in_chromium(browser, tmp_path):
    """srlab.report's report.html: the training view alone, no comparison tab, no errors."""
    from srlab.report import report
    from tests.test_compare import seed_sweep

    sweep = seed_sweep(tmp_path)
    report(sweep)
    page, problems, requests = _open(browser, (sweep / "report.html").resolve().as_uri())
    assert problems == [] and all(u.startswith("file://") for u in requests)
    assert page.is_hidden("#tab-compare") and page.is_visible("#training-plot")
    assert page.locator("#training-plot path.band").count() == 2
    page.close()
