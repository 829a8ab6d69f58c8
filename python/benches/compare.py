"""dji_cloud_ota.decode beside pydantic v2 and json.loads, on the same payloads.

Run from the repository root, in a virtual environment with the package installed
(`pip install ./python`) and `pip install pydantic datamodel-code-generator`:

    python python/benches/compare.py

The pydantic models are generated from the JSON Schemas (schemas/json/) by
datamodel-code-generator, into a temporary folder. The payloads are the `ota_progress`
events of the conformance corpus (tests/fixtures/manifest.json) that decode: canonical
ones, and ones with the spellings the crate tolerates. Each figure is the best of nine rounds,
per call, in microseconds; each round runs the three in turn, as many calls as fill
about 0.2 s.
"""

import importlib
import json
import platform
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path

import pydantic

import dji_cloud_ota

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fixtures"


def models():
    out = Path(tempfile.mkdtemp()) / "ota_models"
    subprocess.run(
        [sys.executable, "-m", "datamodel_code_generator",
         "--input", str(ROOT / "schemas" / "json"), "--input-file-type", "jsonschema",
         "--output-model-type", "pydantic_v2.BaseModel", "--output", str(out)],
        check=True, capture_output=True,
    )
    sys.path.insert(0, str(out.parent))
    return importlib.import_module("ota_models.ota_progress_events_schema").OtaProgressMessage


def per_call(*functions, rounds=9):
    """The best time per call of each function, in microseconds, over `rounds` rounds
    that run each in turn: a busy moment of the machine then costs every function
    alike, and the best round of each is its time on a quiet one."""
    timers = [timeit.Timer(f) for f in functions]
    numbers = [t.autorange()[0] for t in timers]
    best = [float("inf")] * len(timers)
    for _ in range(rounds):
        for i, (timer, number) in enumerate(zip(timers, numbers)):
            best[i] = min(best[i], timer.timeit(number) / number * 1e6)
    return best


def main():
    model = models()
    manifest = json.loads((CORPUS / "manifest.json").read_text())
    cases = [
        c for c in manifest["cases"]
        if c["topic"].endswith("/events") and c["outcome"] in ("valid", "breaks_a_rule")
        and c["input"].startswith("events/")
    ]
    rows = []
    for case in cases:
        payload = (CORPUS / case["input"]).read_bytes()
        topic = case["topic"]
        try:
            model.model_validate_json(payload)
            pydantic_ok = True
        except pydantic.ValidationError:
            pydantic_ok = False
        functions = [lambda: dji_cloud_ota.decode(topic, payload), lambda: json.loads(payload)]
        if pydantic_ok:
            functions.append(lambda: model.model_validate_json(payload))
        ours, plain, *theirs = per_call(*functions)
        theirs = theirs[0] if theirs else None
        rows.append((case["input"], len(payload), ours, theirs, plain))
    print(f"Python {platform.python_version()}, pydantic {pydantic.VERSION}, "
          f"dji_cloud_ota {dji_cloud_ota.__version__}, {platform.machine()}")
    print()
    print("| payload | bytes | `dji_cloud_ota.decode` | pydantic `model_validate_json` | `json.loads` | pydantic / decode |")
    print("|---|---|---|---|---|---|")
    for name, size, ours, theirs, plain in rows:
        theirs_text = f"{theirs:.2f} µs" if theirs is not None else "refused"
        ratio = f"{theirs / ours:.1f}x" if theirs is not None else "-"
        print(f"| `{name}` | {size} | {ours:.2f} µs | {theirs_text} | {plain:.2f} µs | {ratio} |")
    accepted = [r for r in rows if r[3] is not None]
    print()
    print(f"pydantic refuses {len(rows) - len(accepted)} of the {len(rows)} payloads; "
          f"decode reads them all.")
    if accepted:
        ratios = sorted(r[3] / r[2] for r in accepted)
        median = ratios[len(ratios) // 2]
        print(f"pydantic / decode on the payloads both read: {ratios[0]:.1f}x to "
              f"{ratios[-1]:.1f}x, median {median:.1f}x")



if __name__ == "__main__":
    main()
