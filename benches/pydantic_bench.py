#!/usr/bin/env python3
"""The comparison row for BENCHMARKS.md: Python pydantic v2 decoding the same payloads
into typed models (`model_validate_json`), beside Python's own `json.loads`.

Run by hand (not by CI): `python3 -m pip install pydantic` then
`python3 benches/pydantic_bench.py`. Prints the median time per message.
"""
import json
import pathlib
import statistics
import timeit
from typing import Literal, Optional

from pydantic import BaseModel, Field

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures"


class Progress(BaseModel):
    percent: int
    step_key: Optional[str] = None
    step_result: Optional[int] = None


class Ext(BaseModel):
    rate: Optional[int] = None


class ProgressOutput(BaseModel):
    status: str
    progress: Optional[Progress] = None
    ext: Optional[Ext] = None
    sub_status: Optional[str] = None


class OtaProgress(BaseModel):
    result: int
    output: ProgressOutput


class Device(BaseModel):
    sn: str = Field(max_length=10240)
    product_version: str = Field(max_length=10240)
    file_url: Optional[str] = Field(default=None, max_length=10240)
    md5: Optional[str] = Field(default=None, max_length=10240)
    file_size: Optional[int] = None
    file_name: Optional[str] = None
    firmware_upgrade_type: int


class OtaCreate(BaseModel):
    devices: list[Device]


class Envelope(BaseModel):
    tid: str
    bid: str
    timestamp: int
    method: Literal["ota_progress", "ota_create"]
    gateway: Optional[str] = None
    need_reply: Optional[int] = None


class ProgressMessage(Envelope):
    data: OtaProgress


class CreateMessage(Envelope):
    data: OtaCreate


def median_ns(fn, payload: bytes) -> float:
    number = 20000
    runs = timeit.repeat(lambda: fn(payload), number=number, repeat=7)
    return statistics.median(runs) / number * 1e9


CASES = [
    ("ota_progress", FIXTURES / "events" / "canonical.json", ProgressMessage),
    ("ota_create", FIXTURES / "services" / "two_devices.json", CreateMessage),
]

print("| message | json.loads | pydantic model_validate_json |")
print("|---|---:|---:|")
for name, path, model in CASES:
    payload = path.read_bytes()
    model.model_validate_json(payload)  # must decode
    loads = median_ns(json.loads, payload)
    typed = median_ns(model.model_validate_json, payload)
    print(f"| {name} | {loads:.0f} ns | {typed:.0f} ns |")
