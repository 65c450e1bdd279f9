"""A reply checked against the JSON format that was asked for, and the schemas a learner can start from.

``response_format`` asks a provider for JSON (``json_object``) or for JSON that follows a schema
(``json_schema``); not every provider or model honours it. ``check`` says whether the reply did: it
parses the text and validates it with the ``jsonschema`` library, keeping the parsed value to show
formatted and, on failure, where and why. ``parse_schema`` checks a pasted schema before it is sent.
A ``$ref`` is resolved within the schema only: nothing is ever fetched (jsonschema's default would).
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema.exceptions import SchemaError, best_match
from jsonschema.validators import validator_for
from referencing import Registry
from referencing.exceptions import Unresolvable

# Schemas to pick from in the parameters panel (each also a fair first example of JSON Schema).
EXAMPLE_SCHEMAS: dict[str, dict[str, Any]] = {
    "person": {
        "title": "person",
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer", "minimum": 0},
            "hobbies": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["name", "age", "hobbies"],
        "additionalProperties": False,
    },
    "sentiment": {
        "title": "sentiment",
        "type": "object",
        "properties": {
            "label": {"type": "string", "enum": ["positive", "neutral", "negative"]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["label", "confidence"],
        "additionalProperties": False,
    },
}


def parse_schema(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """(schema, None) for text holding a valid JSON Schema object, else (None, why not)."""
    try:
        schema = json.loads(text)
    except ValueError as error:
        return None, f"not JSON: {error}"
    if not isinstance(schema, dict):
        return None, "a schema is a JSON object ({...})"
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as error:
        return None, f"not a valid JSON Schema: {error.message} (at {error.json_path})"
    return schema, None


def check(text: str, response_format: str | None, schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """The reply checked against the asked format: {"format", "valid", "json" (the parsed value or None),
    "error", "path"}; None when no JSON was asked for."""
    if response_format not in ("json_object", "json_schema"):
        return None
    result: dict[str, Any] = {"format": response_format, "valid": False, "json": None, "error": None, "path": None}
    try:
        value = json.loads(text)
    except ValueError as error:
        return result | {"error": f"the reply is not JSON: {error}"}
    result["json"] = value
    if response_format == "json_object" and not isinstance(value, dict):
        return result | {"error": f"the reply is JSON but not an object: it is a {type(value).__name__}"}
    if response_format == "json_schema" and schema is not None:
        validator = validator_for(schema)(schema, registry=Registry())
        try:
            problem = best_match(validator.iter_errors(value))
        except Unresolvable as error:
            return result | {"error": f"the schema refers to what it does not hold: {error}"}
        if problem is not None:
            return result | {"error": problem.message, "path": problem.json_path}
    return result | {"valid": True}
