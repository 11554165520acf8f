"""README.md stays honest: its generated tables match the code, and CI runs its test command."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_the_generated_tables_match_the_schema_and_the_price_table() -> None:
    render = runpy.run_path(str(ROOT / "scripts/readme_tables.py"))["render"]
    assert render(README) == README, "run: python scripts/readme_tables.py --write"


def test_every_optimization_field_is_documented() -> None:
    from optimization import OPTIMIZATION_DEFAULTS

    for name in OPTIMIZATION_DEFAULTS:
        assert f"| `{name}` |" in README


def test_ci_runs_the_test_command_the_readme_gives() -> None:
    block = re.search(r"## The two commands\n\n```bash\n(.*?)```", README, re.DOTALL)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert commands == ["make run", "make test"]
    ci = (ROOT / ".ci/run").read_text()
    assert re.search(r"^exec make test$", ci, re.MULTILINE)
