"""The conformance corpus (tests/fixtures/manifest.json) through the Python module: every
case comes out as the manifest says, as it does from the Rust crate (tests/conformance.rs).
"""

import json
import re
from pathlib import Path

import pytest

import dji_cloud_ota

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fixtures"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
CASES = MANIFEST["cases"]


def run(case, payload):
    decoder = getattr(dji_cloud_ota, case["decoder"])
    return decoder(case["topic"], payload)


def canonical_text(case):
    text = (CORPUS / case["canonical"]).read_bytes()
    return text[:-1] if text.endswith(b"\n") else text


@pytest.mark.parametrize("case", CASES, ids=[c["input"] for c in CASES])
def test_case(case):
    payload = (CORPUS / case["input"]).read_bytes()
    outcome = case["outcome"]
    if outcome in ("valid", "breaks_a_rule"):
        message = run(case, payload)
        # Exactly the crate's canonical bytes: the same keys, values and key order.
        expected = canonical_text(case)
        assert json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() == expected
        assert message == json.loads(expected)
        if case["decoder"] == "decode":
            found = dji_cloud_ota.problems(case["topic"], payload)
            assert [p["path"] for p in found] == case.get("problems", [])
            assert all(isinstance(p["message"], str) and p["message"] for p in found)
    else:
        with pytest.raises(dji_cloud_ota.DecodeError) as refused:
            run(case, payload)
        error = refused.value
        assert isinstance(error, ValueError)
        assert error.not_ota == (outcome == "not_ota")
        assert error.path == case.get("path")
        if outcome == "malformed":
            assert error.kind in ("syntax", "data")
            with pytest.raises(dji_cloud_ota.DecodeError):
                dji_cloud_ota.problems(case["topic"], payload)


def test_every_outcome_is_in_the_corpus():
    assert {c["outcome"] for c in CASES} == {"valid", "breaks_a_rule", "malformed", "not_ota"}


@pytest.mark.parametrize("case", [c for c in CASES if c["outcome"] != "not_ota"][:8], ids=str)
def test_str_payloads_decode_as_bytes_do(case):
    payload = (CORPUS / case["input"]).read_bytes()
    try:
        from_bytes = run(case, payload)
    except dji_cloud_ota.DecodeError as e:
        with pytest.raises(dji_cloud_ota.DecodeError) as again:
            run(case, payload.decode("utf-8"))
        assert (again.value.path, again.value.kind) == (e.path, e.kind)
    else:
        assert run(case, payload.decode("utf-8")) == from_bytes


def test_other_payload_types_are_refused():
    with pytest.raises(TypeError):
        dji_cloud_ota.decode("thing/product/4TADKAQ000002J/events", 42)


def test_the_canonical_form_decodes_to_itself():
    for case in CASES:
        if case["outcome"] in ("valid", "breaks_a_rule"):
            text = canonical_text(case)
            assert run(case, text) == json.loads(text), case["input"]


@pytest.mark.parametrize("readme", ["python/README.md", "README.md"])
def test_the_readme_examples_run(readme, monkeypatch):
    """Every Python block of the READMEs that uses the package runs, from the root."""
    monkeypatch.chdir(ROOT)
    text = (ROOT / readme).read_text(encoding="utf-8")
    blocks = [
        b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "import dji_cloud_ota" in b
    ]
    assert blocks
    for block in blocks:
        exec(compile(block, readme, "exec"), {})
