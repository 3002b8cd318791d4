"""BENCHMARKS.md: sections merge into an existing file; rates keep their windows."""

from __future__ import annotations

from srlab.benchmark.common import Rate, Section
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


def test_step_clock_interleaves_bare_windows_outside_srlabs_windows(monkeypatch):
    # Bare windows run at every clock reading (before, between and after srlab's windows) and
    # their time is not charged to srlab; each srlab window is paired with its two neighbours.
    from types import SimpleNamespace

    from srlab.benchmark import training

    now = [0.0]
    monkeypatch.setattr(training.time, "perf_counter", lambda: now[0])
    bare_rates = iter([100.0, 300.0, 200.0])

    def bare_window(steps: int) -> float:
        assert steps == 2  # as long as srlab's windows
        now[0] += 5.0  # a long bare window: must not count in srlab's windows
        return next(bare_rates)

    training.StepClock.interleave = bare_window
    paused_before = training.StepClock.paused_s
    try:
        clock = training.StepClock(warmup=2, window=2)
        module = SimpleNamespace(device="cpu")
        for step, step_seconds in zip(range(1, 7), [9, 9, 1, 1, 2, 2], strict=True):
            now[0] += step_seconds
            clock.on_train_batch_end(SimpleNamespace(global_step=step), module, None, None, step)
    finally:
        training.StepClock.interleave = None
    assert clock.durations == [2.0, 4.0]  # steps 3-4 and 5-6, bare windows excluded
    # ... and counted as paused, which StepBreakdown's clock subtracts.
    assert training.StepClock.paused_s - paused_before == 15.0
    assert clock.bare_rates == [100.0, 300.0, 200.0]
    assert clock.rates(batch=8) == [8.0, 4.0]
    assert clock.paired_ratios(batch=8) == [8.0 / 200.0, 4.0 / 250.0]
    result = training.Interleaved(
        Rate.of(clock.rates(8)), Rate.of(clock.bare_rates), [0.5, 0.9], window=2
    )
    assert result.ratio == 0.7


def test_timing_windows_span_whole_chunks_of_batches_made_ahead(tmp_path):
    # A window must pay for the same number of chunks as the next: its length is rounded up to a
    # multiple of the batches the run makes ahead (13 for SRCNN's 64 x 48 x 48 px on a CPU).
    from srlab.benchmark.common import train_config
    from srlab.benchmark.training import made_ahead

    with train_config(["model=srcnn", "trainer.accelerator=cpu"], tmp_path) as cfg:
        assert made_ahead(cfg) == 13
    with train_config(["model=srcnn", "data.num_workers=2"], tmp_path) as cfg:
        assert made_ahead(cfg) == 1
    with train_config(["model=srcnn", "data.batches_ahead=4"], tmp_path) as cfg:
        assert made_ahead(cfg) == 4
