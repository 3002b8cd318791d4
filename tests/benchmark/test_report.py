"""BENCHMARKS.md: sections merge into an existing file; rates keep their windows."""

from __future__ import annotations

from srlab.benchmark.common import Rate, Section, window_rates
from srlab.benchmark.report import write


def _section(key: str, value: str) -> Section:
    section = Section(key, f"Title {key}", ["a", "b"], rows=[["x", value]])
    section.headlines.append(f"{key} headline: {value}")
    return section


def test_a_run_replaces_its_sections_and_keeps_the_others(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    machine = {"date": "today", "cpu": "test cpu"}
    write(path, [_section("training", "1"), _section("quality", "2")], machine, "cmd one")
    write(path, [_section("quality", "3")], machine, "cmd two")
    text = path.read_text()
    assert "| x | 1 |" in text and "| x | 3 |" in text and "| x | 2 |" not in text
    assert text.index("Title training") < text.index("Title quality")
    assert "- training headline: 1\n- quality headline: 3" in text
    assert "cmd one" in text and "cmd two" in text


def test_rates_pool_windows_and_format_their_spread():
    rate = Rate.of([10.0, 30.0, 20.0]) + Rate.of([40.0])
    assert rate.windows == 4 and rate.median == 25.0 and (rate.low, rate.high) == (10.0, 40.0)
    assert Rate.of([1234.0, 1000.0]).fmt() == "1,117 (1,000–1,234)"
    assert window_rates([0.0, 1.0, 3.0], items_per_step=4, window=2) == [8.0, 4.0]
