"""The assistant's speed and size: classify a buyer message and pick filled answers.

For each of ``--messages`` buyer messages (the labelled set, cycled, each with a
number appended so no two are the same text) the work the workbench asks for is
timed: classify the intent and bargain type, find the product the message speaks
of in a ``--products`` catalogue, choose and fill the best answers from a
``--entries`` knowledge base. Printed: p50/p99/max milliseconds per message, the
same for the plain keyword baseline in the same run (the reference), and the
process's resident memory once everything is loaded, next to a bare interpreter's.
Targets: p99 < 5 ms per message, memory < 300 MB.

    python benchmarks/assistant.py
    python benchmarks/assistant.py --messages 2000 --entries 500 --json
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from xiaoer.assistant.baseline import KeywordBaseline
from xiaoer.assistant.classifier import default_classifier, load_examples
from xiaoer.assistant.knowledge import Entry, ProductFacts, choose, default_entries, mentioned
from xiaoer.assistant.normalize import normalize

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "assistant" / "messages.tsv"
CATEGORIES = ("窗帘", "纱帘", "卷帘", "百叶帘", "罗马杆", "轨道", "抱枕", "桌布", "地毯", "配件")
STYLES = ("北欧简约", "法式复古", "棉麻质感", "雪尼尔绒", "日式原木", "轻奢", "ins风", "美式")


STATUS = "import re; print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1])"


def _rss_mb() -> float:
    """This process's peak resident memory (VmHWM), MB."""
    text = Path("/proc/self/status").read_text()
    line = next(x for x in text.splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def _bare_interpreter_mb() -> float:
    """The same for a fresh interpreter that imports nothing: the floor to compare with."""
    out = subprocess.run(
        [sys.executable, "-S", "-c", STATUS], capture_output=True, text=True, check=True
    )
    return int(out.stdout) / 1024


def _knowledge(n: int) -> list[Entry]:
    """``n`` entries: the defaults, then variants of them with their own titles."""
    base = list(default_entries())
    entries = []
    for i in range(n):
        e = base[i % len(base)]
        entries.append(
            Entry(e.intent, f"{e.title}·{i}", e.answer + f"（{i}）", e.questions, e.bargain_type, i)
        )
    return entries


def _catalogue(n: int) -> list[ProductFacts]:
    return [
        ProductFacts(
            i,
            f"{STYLES[i % len(STYLES)]}{CATEGORIES[i % len(CATEGORIES)]} {i}号",
            CATEGORIES[i % len(CATEGORIES)],
            5_000 + 137 * i,
            (i * 7) % 40,
        )
        for i in range(n)
    ]


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run(options: argparse.Namespace) -> dict[str, Any]:
    bare = _bare_interpreter_mb()
    started = time.perf_counter()
    model = default_classifier()
    entries = _knowledge(options.entries)
    products = _catalogue(options.products)
    load_s = time.perf_counter() - started
    texts = [e.text for e in load_examples(DATA)]
    messages = [f"{texts[i % len(texts)]} {i}" for i in range(options.messages)]
    values = {"shop": "棠舍家居", "agent": "李娜", "activity": "满300减30", "courier": "顺丰"}
    gc.collect()

    timings: list[float] = []
    for text in messages:
        t0 = time.perf_counter()
        c = model.classify(text)
        product = mentioned(products, normalize(text))
        chosen = choose(entries, c, product, values)
        timings.append((time.perf_counter() - t0) * 1000)
        assert chosen or c.intent not in {e.intent for e in entries}
    memory = _rss_mb()

    baseline = KeywordBaseline()
    reference: list[float] = []
    for text in messages:
        t0 = time.perf_counter()
        baseline.classify(text)
        reference.append((time.perf_counter() - t0) * 1000)

    p99 = _pct(timings, 99)
    return {
        "messages": len(messages),
        "entries": len(entries),
        "products": len(products),
        "load_s": round(load_s, 2),
        "p50_ms": round(statistics.median(timings), 3),
        "p99_ms": round(p99, 3),
        "max_ms": round(max(timings), 3),
        "baseline_p50_ms": round(statistics.median(reference), 3),
        "baseline_p99_ms": round(_pct(reference, 99), 3),
        "ratio_p99_to_baseline": round(p99 / max(_pct(reference, 99), 1e-9), 1),
        "memory_mb": round(memory, 1),
        "bare_interpreter_mb": round(bare, 1),
        "p99_target_met": p99 < 5,
        "memory_target_met": memory < 300,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--entries", type=int, default=2_000)
    parser.add_argument("--products", type=int, default=500)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    options = parser.parse_args()
    result = run(options)
    print(
        f"assistant: {result['messages']:,} messages, {result['entries']:,} knowledge entries, "
        f"{result['products']:,} products (loaded in {result['load_s']} s)"
    )
    print(
        f"  per message   p50 {result['p50_ms']} ms  p99 {result['p99_ms']} ms  "
        f"max {result['max_ms']} ms   target p99 < 5 ms: "
        f"{'met' if result['p99_target_met'] else 'MISSED'}"
    )
    print(
        f"  keyword baseline  p50 {result['baseline_p50_ms']} ms  "
        f"p99 {result['baseline_p99_ms']} ms  (p99 ratio {result['ratio_p99_to_baseline']})"
    )
    print(
        f"  memory (peak RSS) {result['memory_mb']} MB, bare interpreter "
        f"{result['bare_interpreter_mb']} MB   target < 300 MB: "
        f"{'met' if result['memory_target_met'] else 'MISSED'}"
    )
    if options.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
