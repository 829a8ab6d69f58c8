#!/usr/bin/env python3
"""Print the criterion results of `cargo bench --bench messages` as a Markdown table of
medians and ratios to the floor (serde_json into IgnoredAny on the same bytes).

Usage: python3 benches/report.py [target/criterion]
"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
FLOOR = "floor_ignored_any"
ORDER = [FLOOR, "serde_json_value", "decode", "encode", "encode_into", "validate"]


def median_ns(group: pathlib.Path, name: str) -> float | None:
    path = group / name / "new" / "estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"]


def fmt(ns: float) -> str:
    return f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.0f} ns"


rows = []
for group in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "report"):
    floor = median_ns(group, FLOOR)
    names = sorted(
        (p.name for p in group.iterdir() if p.is_dir() and p.name != "report"),
        key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER),
    )
    for name in names:
        ns = median_ns(group, name)
        if ns is None:
            continue
        ratio = f"{ns / floor:.2f}x" if floor else ""
        rows.append((group.name, name, fmt(ns), ratio))

print("| group | benchmark | median | ratio to floor |")
print("|---|---|---:|---:|")
for row in rows:
    print("| " + " | ".join(row) + " |")
