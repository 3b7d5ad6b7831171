"""The council commands' flags, made from CouncilOptions: `--max-tokens` for `max_tokens`, its type, choices and help.

    add_option_flags(parser, "cli-debate")    one flag per option the surface offers
    options_from(args, "cli-debate")          the CouncilOptions the flags asked for (refused as the core refuses)

A flag's kind follows the option's JSON schema: a boolean is `--name/--no-name`, a list is one
comma-separated value, an enum gives the choices, an integer or a number converts its value.
"""

from __future__ import annotations

import argparse
from typing import Any

from livemind.council.options import CouncilOptions, Surface, offered

_CONVERT: dict[str, type] = {"integer": int, "number": float, "string": str}


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema of an optional option's value (the first non-null branch of its anyOf)."""
    return next((s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"), schema)


def _is_list(schema: dict[str, Any]) -> bool:
    return _not_null(schema).get("type") == "array"


def add_option_flags(parser: argparse.ArgumentParser, surface: Surface) -> None:
    """One flag per option offered on `surface`."""
    schemas = CouncilOptions.model_json_schema()["properties"]
    for name, field in offered(surface).items():
        schema, flag, helptext = _not_null(schemas[name]), "--" + name.replace("_", "-"), field.description
        if schema.get("type") == "boolean":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=helptext)
        elif _is_list(schema):
            parser.add_argument(flag, help=f"comma-separated {helptext}")
        elif "enum" in schema:
            parser.add_argument(flag, choices=schema["enum"], help=helptext)
        else:
            parser.add_argument(flag, type=_CONVERT[schema["type"]], help=helptext)


def options_from(args: argparse.Namespace, surface: Surface) -> CouncilOptions:
    """The options the flags of `surface` asked for (a comma-separated list split into names)."""
    schemas = CouncilOptions.model_json_schema()["properties"]
    values: dict[str, object] = {}
    for name in offered(surface):
        value = getattr(args, name, None)
        if isinstance(value, str) and _is_list(schemas[name]):
            value = [part.strip() for part in value.split(",") if part.strip()] or None
        values[name] = value
    return CouncilOptions.of(**values)
