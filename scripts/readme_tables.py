"""Generate README.md's configuration reference and cost appendix from the code.

`python scripts/readme_tables.py --write` rewrites the blocks between the markers in README.md;
without `--write` it exits 1 when README.md is out of date (tests/test_readme.py checks this).
"""

from __future__ import annotations

import re
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from optimization.config import FIELDS, FieldSpec
from optimization.pricing import monthly_cost

README = Path(__file__).resolve().parent.parent / "README.md"
APPENDIX_MODEL = "claude-sonnet-4-5"


def _default(spec: FieldSpec) -> str:
    if isinstance(spec.default, bool):
        return "`true`" if spec.default else "`false`"
    if isinstance(spec.default, str):
        return f'`"{spec.default}"`'
    return f"`{spec.default}`"


def _rule(spec: FieldSpec) -> str:
    if spec.type == "bool":
        return "true / false"
    if spec.choices and spec.type == "choice":
        return " or ".join(f"`{choice}`" for choice in spec.choices)
    if spec.type == "breakpoints":
        return "`auto`, `off` or a list of rules"
    low = f"> {spec.minimum:g}" if spec.minimum_exclusive else f"≥ {spec.minimum:g}"
    return f"{low}, ≤ {spec.maximum:g}" if spec.maximum is not None else low


def config_reference() -> str:
    """The nine optimization fields as a Markdown table."""
    rows = ["| field | default | allowed | what it does |", "|---|---|---|---|"]
    rows += [
        f"| `{spec.name}` | {_default(spec)} | {_rule(spec)} | {spec.help} |" for spec in FIELDS
    ]
    return "\n".join(rows)


def cost_appendix() -> str:
    """The Phase 1 plan's Appendix D, priced by optimization.pricing both ways."""
    volume = {"requests": 1_000_000, "input_tokens": 2000, "output_tokens": 500}
    hit = Decimal("0.9")
    scenarios: list[tuple[str, dict[str, Any]]] = [
        ("Standard API (baseline)", {}),
        ("Batch API", {"batch": True}),
        ("Prompt caching, 90% hits", {"cache_hit_rate": hit}),
        ("Batch + caching", {"batch": True, "cache_hit_rate": hit}),
    ]
    rows = [
        "| scenario | as the Phase 1 plan computes it | with the 1.25x write premium | saved |",
        "|---|---:|---:|---:|",
    ]
    for label, options in scenarios:
        plan = monthly_cost(model=APPENDIX_MODEL, count_write_premium=False, **volume, **options)
        real = monthly_cost(model=APPENDIX_MODEL, count_write_premium=True, **volume, **options)
        rows.append(
            f"| {label} | ${plan.total:,.0f} | ${real.total:,.0f} | {real.saved_fraction:.1%} |"
        )
    return "\n".join(rows)


BLOCKS = {"config-reference": config_reference, "cost-appendix": cost_appendix}


def render(text: str) -> str:
    """README text with every generated block brought up to date."""
    for name, build in BLOCKS.items():
        pattern = re.compile(
            rf"(<!-- {name}:start -->\n).*?(\n<!-- {name}:end -->)", flags=re.DOTALL
        )
        if not pattern.search(text):
            raise SystemExit(f"README.md has no <!-- {name}:start/end --> block")
        text = pattern.sub(lambda m, b=build: m.group(1) + b() + m.group(2), text)
    return text


def main(argv: list[str]) -> int:
    current = README.read_text()
    wanted = render(current)
    if "--write" in argv:
        README.write_text(wanted)
        return 0
    if wanted != current:
        print("README.md is out of date: run python scripts/readme_tables.py --write")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
