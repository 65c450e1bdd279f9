"""A reply checked against the asked JSON format: pass and fail, schemas checked before they are sent, and the
check kept with the finished reply of a real turn (scripted server, real SQLite file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chat_params import Extras
from config import load_settings
from conversation_manager import Conversation
from function_tools import default_registry
from reply_format import EXAMPLE_SCHEMAS, check, parse_schema
from scripted_server import Reply
from store import Store
from token_tracker import PriceBook
from turn import TurnChoices, prepare

PERSON = EXAMPLE_SCHEMAS["person"]


def test_a_reply_that_follows_the_schema_passes_with_its_value():
    reply = '{"name": "Ada", "age": 36, "hobbies": ["maths", "poetry"]}'
    assert check(reply, "json_schema", PERSON) == {
        "format": "json_schema",
        "valid": True,
        "json": json.loads(reply),
        "error": None,
        "path": None,
    }


def test_a_reply_that_breaks_the_schema_fails_with_where_and_why():
    reply = '{"name": "Ada", "age": "thirty-six", "hobbies": []}'
    result = check(reply, "json_schema", PERSON)
    assert result is not None and not result["valid"]
    assert (result["path"], result["error"]) == ("$.age", "'thirty-six' is not of type 'integer'")
    assert result["json"] == json.loads(reply)  # still shown formatted
    missing = check('{"name": "Ada"}', "json_schema", PERSON)
    assert missing is not None and "'age' is a required property" in missing["error"]


def test_a_reply_that_is_not_json_or_not_an_object_fails():
    fenced = check('```json\n{"a": 1}\n```', "json_object", None)
    assert fenced is not None and not fenced["valid"] and fenced["error"].startswith("the reply is not JSON")
    listed = check("[1, 2]", "json_object", None)
    assert listed is not None and (listed["valid"], listed["json"]) == (False, [1, 2])
    assert check('{"a": 1}', "json_object", None) == {
        "format": "json_object",
        "valid": True,
        "json": {"a": 1},
        "error": None,
        "path": None,
    }


def test_nothing_is_checked_unless_json_was_asked_for():
    assert check("plain words", None, None) is None
    assert check("plain words", "text", None) is None


def test_a_schema_refers_only_to_itself_nothing_is_fetched(server):
    """jsonschema's default would fetch the served schema (and the reply would pass): ours never asks for it."""
    server.route("/schemas/word.json", lambda query: {"type": "string"})
    url = server.url("/schemas/word.json")
    remote = {"type": "object", "properties": {"a": {"$ref": url}}}
    result = check('{"a": "x"}', "json_schema", remote)
    assert result is not None and not result["valid"] and url in result["error"]
    assert not [request for request in server.requests if request["path"].startswith("/schemas")]
    local = {"$defs": {"word": {"type": "string"}}, "properties": {"a": {"$ref": "#/$defs/word"}}}
    resolved, wrong = check('{"a": "x"}', "json_schema", local), check('{"a": 1}', "json_schema", local)
    assert resolved is not None and resolved["valid"] and wrong is not None and wrong["path"] == "$.a"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"type": "object",', "not JSON"),
        ("[1]", "a schema is a JSON object"),
        ('{"type": "objekt"}', "not a valid JSON Schema"),
        ('{"properties": {"a": {"minimum": "zero"}}}', "not a valid JSON Schema"),
    ],
)
def test_a_pasted_schema_is_checked_before_it_is_sent(text, why):
    schema, problem = parse_schema(text)
    assert schema is None and problem is not None and problem.startswith(why)


def test_the_example_schemas_are_valid():
    for schema in EXAMPLE_SCHEMAS.values():
        assert parse_schema(json.dumps(schema)) == (schema, None)


@pytest.mark.parametrize(
    ("answer", "valid"),
    [('{"label": "positive", "confidence": 0.9}', True), ('{"label": "great", "confidence": 0.9}', False)],
)
def test_a_turn_keeps_the_check_with_its_finished_reply(app_env, tmp_path: Path, answer, valid):
    settings = load_settings()
    schema = EXAMPLE_SCHEMAS["sentiment"]
    choices = TurnChoices("en", "default", (), extras=Extras(response_format="json_schema", json_schema=schema))
    store, conversation = Store(tmp_path / "chats.db"), Conversation()

    def save(messages):
        store.save(conversation, messages)
        return True

    app_env.expect(Reply(text=answer))
    registry = default_registry(settings.weather_api_url, settings.geocoding_api_url)
    turn = prepare(conversation, settings, choices, "I love it", registry=registry, book=PriceBook(7.0), save=save)
    list(turn.run())
    assert app_env.chat_requests()[0]["response_format"]["json_schema"]["schema"] == schema
    reply = conversation.messages[-1]
    assert reply.validation is not None and reply.validation["valid"] is valid
    stored = store.load(conversation.id)
    assert stored is not None and stored.messages[-1].validation == reply.validation
    assert conversation.settings["extras"] == {"response_format": "json_schema", "json_schema": schema}
