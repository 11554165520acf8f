"""Run every benchmark (benchmarks/bench_*.py), or those named: `python -m benchmarks wrapper`."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path


def main(selected: list[str]) -> int:
    here = Path(__file__).resolve().parent
    names = sorted(path.stem for path in here.glob("bench_*.py"))
    if selected:
        names = [name for name in names if any(word in name for word in selected)]
    if not names:
        print(f"no benchmark matches {selected}", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        try:
            importlib.import_module(f"benchmarks.{name}").main()
        except Exception as error:  # one broken benchmark must not hide the others' figures
            failed.append(name)
            print(f"{name} failed: {error!r}", file=sys.stderr)
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
