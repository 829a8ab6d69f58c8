#!/usr/bin/env python3
"""Print the criterion results of `cargo bench --bench messages` as Markdown tables of
medians and ratios to the floor (serde_json into IgnoredAny on the same bytes):

1. every function of every group: median and ratio to the group's `floor_ignored_any`;
2. one row per group, one column per function: the ratios side by side, with `decode`
   over `plain_derive` (what the tolerant types cost over a plain derive of the same
   fields) and `encode_into` over `plain_serialize` (what writing the crate's types
   costs over serde_json writing the plain structs) where the group has both;
3. the targets: each limit, the measured ratio and whether it holds.

Usage: python3 benches/report.py [target/criterion]
"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
FLOOR = "floor_ignored_any"
PLAIN = "plain_derive"
PLAIN_WRITE = "plain_serialize"
ORDER = [FLOOR, "serde_json_value", PLAIN, "decode", PLAIN_WRITE, "encode", "encode_into", "validate"]
# Each function beside its plain baseline, as a column of its own.
OVER_PLAIN = [("decode", PLAIN), ("encode_into", PLAIN_WRITE)]
# The groups in the order of benches/messages.rs; any other group found comes after.
GROUPS = [
    "ota_progress",
    "ota_progress_pretty",
    "ota_progress_every_quirk",
    "ota_progress_java_order",
    "ota_progress_dock_docs",
    "ota_create",
    "ota_create_pretty",
    "ota_create_reply",
    "ota_create_reply_pretty",
    "events_reply",
    "events_reply_pretty",
    "hms_refusal",
    "state_push",
    "topic",
]
# Limits as ratios to the floor of the same group.
DECODE_LIMIT = 3.0
DECODE_LIMIT_BY_GROUP = {"ota_progress_every_quirk": 3.5, "hms_refusal": 1.8}
ENCODE_LIMIT = 1.5
ENCODE_FUNCTIONS = ["encode", "encode_into"]
# Groups that are not one OTA message (no encode, or no floor).
NOT_MESSAGES = {"hms_refusal", "state_push", "topic"}


def median_ns(group: pathlib.Path, name: str) -> float | None:
    path = group / name / "new" / "estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"]


def fmt(ns: float) -> str:
    return f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.0f} ns"


def order_key(items: list[str], name: str) -> tuple[int, str]:
    return (items.index(name) if name in items else len(items), name)


def table(header: list[str], rows: list[list[str]], right_from: int) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if i < right_from else "---:" for i in range(len(header))) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if not root.is_dir():
    sys.exit(f"{root}: no criterion results (run `cargo bench --bench messages` first)")

# results[group][function] = median in ns
results: dict[str, dict[str, float]] = {}
for group in sorted(
    (p for p in root.iterdir() if p.is_dir() and p.name != "report"),
    key=lambda p: order_key(GROUPS, p.name),
):
    medians = {}
    for name in sorted(
        (p.name for p in group.iterdir() if p.is_dir() and p.name != "report"),
        key=lambda n: order_key(ORDER, n),
    ):
        ns = median_ns(group, name)
        if ns is not None:
            medians[name] = ns
    if medians:
        results[group.name] = medians


def ratio(group: str, name: str) -> float | None:
    medians = results.get(group, {})
    floor, ns = medians.get(FLOOR), medians.get(name)
    return ns / floor if floor and ns is not None else None


# 1. Every function: median and ratio.
rows = []
for group, medians in results.items():
    for name, ns in medians.items():
        r = ratio(group, name)
        rows.append([group, name, fmt(ns), f"{r:.2f}x" if r is not None else ""])
table(["group", "benchmark", "median", "ratio to floor"], rows, right_from=2)

# 2. Ratios side by side, one row per group that has a floor.
with_floor = [g for g, m in results.items() if FLOOR in m]
if with_floor:
    names = sorted(
        {n for g in with_floor for n in results[g]}, key=lambda n: order_key(ORDER, n)
    )
    rows = []
    for group in with_floor:
        row = [group]
        for name in names:
            r = ratio(group, name)
            row.append(f"{r:.2f}x" if r is not None else "—")
        medians = results[group]
        for name, plain in OVER_PLAIN:
            if plain in medians and name in medians:
                row.append(f"{medians[name] / medians[plain]:.2f}x")
            else:
                row.append("—")
        rows.append(row)
    print()
    print("Ratios to the floor of each group (— where the group has no such benchmark;")
    print("the plain baselines are absent where a plain derive cannot read the bytes):")
    print()
    over = [f"{name} / {plain}" for name, plain in OVER_PLAIN]
    table(["group"] + names + over, rows, right_from=1)

# 3. The targets.
rows = []
for group in with_floor:
    medians = results[group]
    checks = []
    if "decode" in medians:
        checks.append(("decode", DECODE_LIMIT_BY_GROUP.get(group, DECODE_LIMIT)))
    if group not in NOT_MESSAGES:
        checks += [(name, ENCODE_LIMIT) for name in ENCODE_FUNCTIONS if name in medians]
    for name, limit in checks:
        r = ratio(group, name)
        rows.append([group, name, f"{limit:.1f}x", f"{r:.2f}x", "yes" if r <= limit else "**no**"])
if rows:
    print()
    print("Targets (ratio to the floor of the same group):")
    print()
    table(["group", "benchmark", "limit", "ratio", "holds"], rows, right_from=2)
