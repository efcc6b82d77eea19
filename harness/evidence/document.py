"""The evidence's JSON documents."""

from __future__ import annotations

from typing import Any

#: A JSON object the evidence writes or reads: run.json (one target's or a fleet's), a JSON Schema,
#: a Navigator layer, an ATTiRe log. Their shapes are checked by the JSON Schemas in schemas/
#: (tests/evidence), not by the type checker: arbitrary JSON to Python.
JsonDoc = dict[str, Any]
