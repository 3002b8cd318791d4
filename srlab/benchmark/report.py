"""``BENCHMARKS.md``: the sections of a run, merged into the file's earlier sections.

Each section is a block between ``<!-- section:KEY -->`` and ``<!-- /section:KEY -->`` that
starts with the date, machine and command it was measured with and carries its headline lines as
comments; a run replaces the blocks it measured and keeps the others (``bench=quality`` after a
``bench=full`` keeps the throughput tables). The headline list at the top is rebuilt from every
block.
"""

from __future__ import annotations

import re
from pathlib import Path

from srlab.benchmark.common import Section

ORDER = ("training", "overhead", "datapath", "inference", "quality", "cuda")
_BLOCK = re.compile(r"<!-- section:(\w+) -->\n(.*?)<!-- /section:\1 -->\n?", re.DOTALL)
_HEADLINE = re.compile(r"<!-- headline: (.*?) -->")

HEADER = """# srlab benchmarks

Written by `python -m srlab.bench` (`conf/bench.yaml`; `bench=quick` for a one-minute check,
`bench=quality` for the time-to-quality runs alone). Each section names the machine, date and
command it was measured with; a run rewrites the sections it measured and keeps the others.
Throughput figures are medians over repeated timed windows after warm-up, with the slowest and
fastest window in brackets. The README's "Performance and defaults" explains the defaults these
numbers chose.
"""


def render_block(section: Section, machine: dict[str, str], command: str) -> str:
    """One section as a block: provenance line, the section's markdown, hidden headlines."""
    where = "; ".join(f"{k}: {v}" for k, v in machine.items())
    lines = [
        f"<!-- section:{section.key} -->",
        section.markdown().rstrip(),
        "",
        f"<sub>Measured {machine.get('date', '')} with `{command}` — {where}</sub>",
    ]
    lines += [f"<!-- headline: {h} -->" for h in section.headlines]
    lines.append(f"<!-- /section:{section.key} -->")
    return "\n".join(lines) + "\n"


def merge(existing: str, blocks: dict[str, str]) -> str:
    """``existing`` file text with ``blocks`` (key -> rendered block) replacing or adding theirs."""
    kept = {m.group(1): m.group(0).rstrip("\n") + "\n" for m in _BLOCK.finditer(existing)}
    kept.update(blocks)
    # Known sections in ORDER, each followed by its variants (quality_seed1 after quality).
    keys = [k for base in ORDER for k in sorted(kept) if k == base or k.startswith(base + "_")]
    keys += sorted(k for k in kept if k not in keys)
    headlines = [h for k in keys for h in _HEADLINE.findall(kept[k])]
    parts = [HEADER, "## Headlines", ""]
    parts += [f"- {h}" for h in headlines] or ["(none yet)"]
    parts.append("")
    parts += [kept[k] for k in keys]
    return "\n".join(parts).rstrip() + "\n"


def write(path: str | Path, sections: list[Section], machine: dict[str, str], command: str) -> Path:
    """Merge ``sections`` into the markdown file at ``path`` (created if missing)."""
    path = Path(path)
    existing = path.read_text() if path.is_file() else ""
    blocks = {s.key: render_block(s, machine, command) for s in sections}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(merge(existing, blocks))
    tmp.replace(path)
    return path
