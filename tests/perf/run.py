"""Run every benchmark in tests/perf/bench_*.py and write a Markdown and a JSON report.

    python tests/perf/run.py [--only ingest,inbox] [--scale small|large] [--out DIR]
    python tests/perf/run.py --only load     # the load run (tests/perf/load_run.py), only when named

Each bench module exposes run(report), appending dicts with name, n, median_ms, p95_ms,
p99_ms, budget, ok and data_size. `--scale` is passed to them as DESK_BENCH_SCALE; the
large scale is the one the budgets in docs/architecture.md speak of (1M tickets on PostgreSQL). Reports go
to tests/perf/reports/<UTC time>.{md,json} so two runs can be compared.
"""
import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
# Whole-stack runs that take minutes: run only when named in --only (name -> module).
ON_REQUEST = {"load": "load_run"}


def machine() -> dict:
    """Cores, memory and versions, so reports from two machines can be told apart."""
    memory_kb = 0
    try:
        with open("/proc/meminfo") as f:
            memory_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    except (OSError, StopIteration):
        pass
    return {"cores": os.cpu_count(), "memory_gib": round(memory_kb / 1024 / 1024, 1),
            "python": platform.python_version(), "platform": platform.platform(),
            "database": os.environ.get("DESK_BENCH_DATABASE_URL", "sqlite (temporary)")}


def markdown(results: list[dict], info: dict, errors: dict) -> str:
    lines = [f"# Benchmark report {info['started']}", "",
             f"Machine: {info['cores']} cores, {info['memory_gib']} GiB, Python {info['python']}; "
             f"scale {info['scale']}; database {info['database']}.", "",
             "| benchmark | n | data size | median ms | p95 ms | p99 ms | budget | ok |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        lines.append(f"| {r.get('name')} | {r.get('n', '')} | {r.get('data_size', '')} | "
                     f"{r.get('median_ms', '')} | {r.get('p95_ms', '')} | {r.get('p99_ms', '')} | "
                     f"{r.get('budget', '')} | {'yes' if r.get('ok') else 'NO'} |")
    for module, error in errors.items():
        lines += ["", f"## {module} failed", "", "```", error, "```"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated bench names (ingest, inbox, ...)")
    parser.add_argument("--scale", choices=["small", "large"], default="small")
    parser.add_argument("--out", default=str(HERE / "reports"))
    args = parser.parse_args()
    os.environ["DESK_BENCH_SCALE"] = args.scale
    wanted = {name.strip() for name in args.only.split(",") if name.strip()}
    modules = sorted(p.stem for p in HERE.glob("bench_*.py"))
    modules += [module for name, module in ON_REQUEST.items() if name in wanted]
    short = {module: name for name, module in ON_REQUEST.items()}
    info = {**machine(), "scale": args.scale,
            "started": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H-%M-%SZ")}
    results, errors = [], {}
    for name in modules:
        if wanted and short.get(name, name.removeprefix("bench_")) not in wanted:
            continue
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        try:
            importlib.import_module(f"tests.perf.{name}").run(results)
        except Exception:  # one broken benchmark must not hide the others' figures
            errors[name] = traceback.format_exc()
            print(errors[name], file=sys.stderr)
        print(f"   {time.perf_counter() - started:.1f} s", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / info["started"]
    stem.with_suffix(".json").write_text(json.dumps(
        {"machine": info, "results": results, "errors": errors}, indent=2))
    stem.with_suffix(".md").write_text(markdown(results, info, errors))
    print(markdown(results, info, errors))
    print(f"report: {stem}.md and {stem}.json")
    return 1 if errors or not all(r.get("ok") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
