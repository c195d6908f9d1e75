"""``make bench``: run every ``bench/bench_*.py`` and write ``bench/results/latest.json``.

Each module's ``run(args)`` returns ``{figure name: figure(...)}``; the names are
the ones the issues use. A module can be picked with ``--only NAME``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
DEFAULT_OUT = BENCH / "results" / "latest.json"
sys.path.insert(0, str(BENCH))


def modules(only: list[str]) -> list[Path]:
    found = sorted(BENCH.glob("bench_*.py"))
    return [p for p in found if not only or p.stem.removeprefix("bench_") in only]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repository", default="artifacts/models", type=Path)
    parser.add_argument("--only", action="append", default=[], help="a module, e.g. serving")
    parser.add_argument("--out", default=DEFAULT_OUT, type=Path)
    args = parser.parse_args()
    results: dict[str, object] = {}
    for path in modules(args.only):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        start = time.perf_counter()
        figures = module.run(args)
        print(f"{path.stem}: {len(figures)} figures in {time.perf_counter() - start:.0f} s")
        for name, fig in figures.items():
            print(f"  {name:32s} {fig['value']:>10} goal {fig['goal']:>14}  met {fig['met']}")
        results.update(figures)
    previous = json.loads(args.out.read_text()) if args.out.is_file() and args.only else {}
    merged = {**previous, **results}
    merged["_machine"] = {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(merged, indent=2, sort_keys=True))
    print(f"written to {args.out}")
    if not args.only and args.out == DEFAULT_OUT:
        import table

        table.main(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
