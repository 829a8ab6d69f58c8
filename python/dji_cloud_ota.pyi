"""The DJI Cloud API firmware-upgrade (OTA) messages: the dji-cloud-ota crate's
tolerant decoder, canonical form and validation.

A message comes back as a ``dict`` in canonical form: exactly the JSON the Rust
crate's ``encode`` writes (one spelling of each key, integers as ``int``, no ``None``),
keys in its order. Types for those dicts can be generated from the JSON Schemas in
``schemas/json/`` of the crate's repository.
"""

from typing import Any, Literal, TypedDict

__version__: str

class Problem(TypedDict):
    """One violation of the protocol's rules."""

    path: str
    """The JSON path of the offending value: ``tid``, ``data.devices[1].md5``."""
    message: str
    """What is wrong."""

class DecodeError(ValueError):
    """A payload the decoder refuses."""

    path: str | None
    """The JSON path of a data error (``data.output.progress.percent``), else ``None``."""
    not_ota: bool
    """True for a message of another kind (an ``hms`` event, an ``osd`` topic): no
    error of the sender, just not an OTA message."""
    kind: (
        Literal[
            "not_ota",
            "wrong_topic",
            "topic",
            "too_large",
            "invalid_utf8",
            "syntax",
            "data",
            "other",
        ]
        | None
    )
    """What the refusal is."""

def decode(topic: str, payload: bytes | str) -> dict[str, Any]:
    """Decodes the OTA message ``payload`` received on ``topic``
    (``thing/product/{sn}/services``, ``services_reply``, ``events`` or
    ``events_reply``), reading every spelling the crate tolerates, and returns it in
    canonical form.

    Raises ``DecodeError`` when it is refused: ``.not_ota`` for a message of another
    kind, ``.path`` where the data is wrong.
    """

def decode_state(topic: str, payload: bytes | str) -> dict[str, Any]:
    """Decodes a device's state push (``thing/product/{sn}/state``) and returns it in
    canonical form: the envelope and the firmware properties it carries
    (``firmware_version``, ``firmware_upgrade_status``, ``compatible_status``).

    Raises ``DecodeError`` when it is refused.
    """

def problems(topic: str, payload: bytes | str) -> list[Problem]:
    """Decodes the OTA message and validates it: every violation of the protocol's
    rules, in the order of the message's fields; empty for a valid message.

    Raises ``DecodeError`` when it does not decode.
    """
