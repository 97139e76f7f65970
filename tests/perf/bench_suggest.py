"""Canned-reply suggestions per ticket: budget p95 < 10 ms with 2,000 replies and 100k past examples.

    python tests/perf/bench_suggest.py            # the budget's size (2,000 / 100,000)
    DESK_BENCH_SCALE=small python tests/perf/run.py --only suggest

The engine is built once (as each web process does) and timed per suggest() call; a second
row times suggestions while examples keep arriving (incremental index updates). Data is
generated from the shared eval library and dev messages plus synthetic product words, with
Zipf-like popularity, so postings lists look like a busy desk's.
"""
import json
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from desk.replies.engine import Engine, ReplyDoc  # noqa: E402
from tests.perf.common import percentile  # noqa: E402

FIXTURES = HERE.parent / "fixtures"
LIBRARY_FILE = HERE.parent.parent / "desk" / "demo" / "canned-replies.json"
SIZES = {"small": (500, 20_000, 300), "large": (2_000, 100_000, 1_000)}
BUDGET_MS = 10.0
FILLERS = ("gracias", "hola", "please", "urgente", "ayer", "today", "app", "web", "tienda",
           "store", "again", "otra vez", "por favor", "thanks", "👍", "😡", "@marca", "!!", "??")


def generate(n_replies: int, n_examples: int, n_queries: int, seed: int = 7):
    """(replies, examples, queries) built from the eval files plus synthetic vocabulary."""
    rng = random.Random(seed)
    base = json.loads(LIBRARY_FILE.read_text())["replies"]
    cases = [json.loads(line) for line in (FIXTURES / "suggestions-dev.jsonl").read_text().splitlines()
             if line.strip()]
    by_key: dict[str, list[str]] = {}
    for case in cases:
        by_key.setdefault(case["expected"], []).append(case["text"])
    products = [f"prod{n}x" for n in range(4_000)]
    replies, topics = [], []
    for n in range(n_replies):
        seed_reply = base[n % len(base)]
        extra = rng.sample(products, 3)
        triggers = [f"{t} {rng.choice(extra)}" for t in seed_reply["triggers"]]
        replies.append(ReplyDoc(f"{seed_reply['key']}-{n}", seed_reply["language"],
                                f"{seed_reply['title']} {extra[0]}", seed_reply["body"], tuple(triggers)))
        topics.append((seed_reply["key"], extra))
    weights = [1 / (rank + 1) ** 0.8 for rank in range(n_replies)]  # popular replies are used more

    def message(i):
        key, extra = topics[i]
        text = rng.choice(by_key.get(key) or [replies[i].title])
        words = [text, rng.choice(extra)] + rng.sample(FILLERS, rng.randint(0, 3))
        if rng.random() < 0.3:
            words.append(str(rng.randint(10_000, 99_999)))
        rng.shuffle(words)
        return " ".join(words)

    picks = rng.choices(range(n_replies), weights=weights, k=n_examples + n_queries)
    examples = [(replies[i].key, message(i)) for i in picks[:n_examples]]
    queries = [message(i) for i in picks[n_examples:]]
    return replies, examples, queries


def measure(n_replies: int, n_examples: int, n_queries: int) -> list[dict]:
    replies, examples, queries = generate(n_replies, n_examples, n_queries)
    started = time.perf_counter()
    engine = Engine(replies, examples)
    build_s = time.perf_counter() - started
    for text in queries[:20]:  # warm the typo cache as a running process would be
        engine.suggest(text)
    samples = []
    for text in queries:
        t = time.perf_counter()
        engine.suggest(text, language="es")
        samples.append((time.perf_counter() - t) * 1000)
    learning = []
    for n, text in enumerate(queries):
        t = time.perf_counter()
        engine.add_example(replies[n % n_replies].key, text)
        engine.suggest(text)
        learning.append((time.perf_counter() - t) * 1000)
    size = f"{n_replies} replies, {n_examples} examples (index built in {build_s:.1f} s)"
    return [row("suggest per ticket", samples, size), row("learn one example + suggest", learning, size)]


def row(name: str, samples: list[float], size: str) -> dict:
    p95 = percentile(samples, 95)
    return {"name": f"suggestions: {name}", "n": len(samples),
            "median_ms": round(percentile(samples, 50), 3), "p95_ms": round(p95, 3),
            "p99_ms": round(percentile(samples, 99), 3), "budget": f"p95 < {BUDGET_MS:g} ms",
            "ok": p95 < BUDGET_MS, "data_size": size}


def run(report: list) -> None:
    import os
    scale = os.environ.get("DESK_BENCH_SCALE", "small")
    report.extend(measure(*SIZES.get(scale, SIZES["small"])))


if __name__ == "__main__":
    scale = sys.argv[1] if len(sys.argv) > 1 else "large"
    for result in measure(*SIZES[scale]):
        print(json.dumps(result))
