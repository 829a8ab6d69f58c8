#!/usr/bin/env python3
"""Checks the checked-in JSON Schemas from outside Rust, with Python's `jsonschema`.

- every schema named in schemas/index.json is a valid draft 2020-12 schema;
- every message in schemas/examples/<topic>/ (the canonical encoding of a fixture,
  written by the crate) validates against the schema the index picks for its topic and
  method;
- every message in tests/fixtures/breaks_a_rule/<topic>/ (canonical, but breaking one rule)
  is refused by that schema;
- the README's Python routing code runs and prints what it says.

Run from the project root: python3 tests/python/check_schemas.py
Exits 1 on any failure.
"""

import json
import os
import re
import sys
from importlib.metadata import version
from pathlib import Path

from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
INVALID = ROOT / "tests" / "fixtures" / "breaks_a_rule"
GATEWAY = "4TADKAQ000002J"


def load(path):
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def validators_by_entry():
    """A format-asserting validator for each index entry, with the entry's topic regex."""
    out = []
    for entry in load(SCHEMAS / "index.json")["messages"]:
        schema = load(SCHEMAS / entry["schema"])
        Draft202012Validator.check_schema(schema)
        topic = re.escape(entry["topic"]).replace(re.escape("{sn}"), "[^/]+")
        validator = Draft202012Validator(
            schema, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        out.append((re.compile(topic), entry, validator))
    return out


def pick(validators, topic, method):
    """The validator for a message received on `topic` with `method`, as a consumer picks it."""
    for pattern, entry, validator in validators:
        if pattern.fullmatch(topic) and entry["method"] == method:
            return validator
    return None


def messages(root):
    """(topic, path, message) for every JSON file in root/<topic suffix>/."""
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(directory.glob("*.json")):
            topic = f"thing/product/{GATEWAY}/{directory.name}"
            yield topic, path.relative_to(ROOT), load(path)


def readme_code_runs():
    """The README's Python routing code (the block that defines `problems`) runs from the
    root and prints what it says it prints."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "def problems" in b]
    if len(blocks) != 1:
        return [f"README.md: {len(blocks)} Python blocks define problems(), not 1"]
    printed = []
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        exec(compile(blocks[0], "README.md", "exec"), {"print": printed.append})
    except Exception as e:  # noqa: BLE001 - any failure of the README's code is reported
        return [f"README.md's Python code: {type(e).__name__}: {e}"]
    finally:
        os.chdir(cwd)
    expected = re.findall(r"^# (\[.*\])$", blocks[0], re.M)
    if [repr(p) for p in printed] != expected:
        return [f"README.md's Python code printed {printed}, not {expected}"]
    return []


def main():
    failures = readme_code_runs()
    validators = validators_by_entry()
    accepted = refused = 0
    for expect_valid, root in ((True, SCHEMAS / "examples"), (False, INVALID)):
        for topic, path, message in messages(root):
            validator = pick(validators, topic, message.get("method"))
            if validator is None:
                failures.append(f"{path}: no schema in the index for {topic}")
                continue
            errors = [
                f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                for e in validator.iter_errors(message)
            ]
            if expect_valid and errors:
                failures.append(f"{path}: refused: " + "; ".join(errors))
            elif not expect_valid and not errors:
                failures.append(f"{path}: breaks a rule but was accepted")
            elif expect_valid:
                accepted += 1
            else:
                refused += 1
    if accepted == 0 or refused == 0:
        failures.append(f"nothing checked: {accepted} accepted, {refused} refused")
    if failures:
        print("schemas: FAILED", *failures, sep="\n  ")
        return 1
    print(
        f"schemas (Python jsonschema {version('jsonschema')}): {len(validators)} valid "
        f"draft 2020-12 schemas; {accepted} examples accepted; {refused} invalid messages refused"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
