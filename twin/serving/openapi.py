"""The OpenAPI 3.1 document of the HTTP API, made from its declarations: the route table
(``twin.serving.routes``: path, method, role, query, body, answers) and the msgspec
types of each shape (``msgspec.json.schema_components``). ``GET /api/openapi.json``
serves it, ``/api/docs`` shows it, and ``docs/api.md``'s generated sections are written
from it (``python -m twin.serving.openapi --write docs/api.md``).

A route's refusals that the table adds by itself (401 and 403 where a role is needed,
503 before the twin is built, 400/413/415 where a body is taken, 400 for a query, 404
for a path parameter, 421 for a Host this server does not answer to) are declared here
too, so that every answer the server can give is in the document.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import re
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from twin import __version__
from twin.serving.access import OFF_LADDER, ROLES, token_words
from twin.serving.protocol import API_ERRORS, SUBPROTOCOL, ApiErrorCode
from twin.serving.routing import JSON, ApiError, ApiRoute, Media

REF = "#/components/schemas/{name}"
_REASONS = {200: "OK", 201: "Created", 400: "Bad request", 401: "No valid token", 403: "Role not enough, or cross-site",
            404: "Not found", 405: "Method not allowed", 409: "Conflict", 413: "Body too large",
            415: "Unsupported Content-Type", 421: "Host not served", 422: "Rejected", 503: "Not ready or unavailable"}
#: statuses of the refusals each kind of route may give besides its own (see the docstring)
_ROLE_ANSWERS = (401, 403)
_BODY_ANSWERS = (400, 413, 415)


def field_docs(cls: type) -> dict[str, str]:
    """The ``#:`` comments above each field of a class, by the field's name on the wire:
    the one place a field is described (msgspec takes the class's docstring, not its
    fields'). A subclass's fields are its own and its bases' (a TypedDict's too, which
    keeps no bases: they are read from its ``class`` line)."""
    #: a Struct's field may travel under another name (``start`` as ``from``)
    names = {f.name: f.encode_name for f in msgspec.structs.fields(cls)} if issubclass(cls, msgspec.Struct) else {}
    docs: dict[str, str] = {}
    for klass in _typeddict_bases(cls) if typing.is_typeddict(cls) else reversed(cls.__mro__):
        try:
            lines, _ = inspect.getsourcelines(klass)
        except (OSError, TypeError):
            continue
        pending: list[str] = []
        for line in lines[1:]:
            text = line.strip()
            if text.startswith("#:"):
                pending.append(text[2:].strip())
                continue
            field = re.match(r"(\w+)\s*:", text)
            if field and pending and line.startswith("    ") and not line.startswith("     "):
                docs[names.get(field.group(1), field.group(1))] = " ".join(pending)
            pending = []
    return docs


def _typeddict_bases(cls: type) -> list[type]:
    """A TypedDict's bases that are TypedDicts of its module, farthest first, and itself."""
    try:
        line = inspect.getsourcelines(cls)[0][0]
    except (OSError, TypeError):
        return [cls]
    found = re.match(r"\s*class \w+\((\w+)\)", line)
    base = getattr(sys.modules.get(cls.__module__), found.group(1), None) if found else None
    return [*_typeddict_bases(base), cls] if base is not None and typing.is_typeddict(base) else [cls]


def _classes(types: list[Any]) -> dict[str, type]:
    """Every Struct, TypedDict and dataclass reachable from ``types``, by the name its
    component has."""
    found: dict[str, type] = {}

    def walk(info: Any) -> None:
        if isinstance(info, (msgspec.inspect.StructType, msgspec.inspect.DataclassType, msgspec.inspect.TypedDictType)):
            if info.cls.__name__ in found:
                return
            found[info.cls.__name__] = info.cls
            for f in info.fields:
                walk(f.type)
            return
        for attr in ("item_type", "key_type", "value_type"):
            if hasattr(info, attr):
                walk(getattr(info, attr))
        for attr in ("types", "item_types"):
            for t in getattr(info, attr, ()):
                walk(t)

    for info in msgspec.inspect.multi_type_info(types):
        walk(info)
    return found


def _path_schema(route: ApiRoute, name: str, converter: str) -> Any:
    if name in route.path_params:
        return route.path_params[name]
    return {"int": {"type": "integer", "minimum": 0}, "float": {"type": "number"}}.get(converter, {"type": "string"})


def _declared(route: ApiRoute) -> Iterator[Any]:
    """Every msgspec type the route's declarations name (for the components)."""
    for value in (*route.answers.values(), *route.body_types.values(), *route.path_params.values()):
        for one in value if isinstance(value, tuple) else (value,):
            if not isinstance(one, (Media, dict)):
                yield one
    if route.query is not None:
        yield route.query


def _answers(route: ApiRoute) -> dict[int, Any]:
    """The route's declared answers and the refusals the table adds (see the docstring)."""
    answers = dict(route.answers)
    extra: list[int] = []
    if route.role is not None:
        extra += _ROLE_ANSWERS
    if route.ready:
        extra.append(503)
    if route.live:
        extra.append(409)
    if route.takes_body:
        extra += _BODY_ANSWERS
    if route.query is not None:
        extra.append(400)
    if route.converters:
        extra.append(404)
    for status in extra:
        answers.setdefault(status, ApiError)
    return dict(sorted(answers.items()))


def _query_schema(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema: present with a value, or absent; never null (a field
    ``X | None = None`` of the query's Struct)."""
    schema = {k: v for k, v in prop.items() if k not in ("description", "default") or (k == "default" and v is not None)}
    options = [s for s in schema.get("anyOf", ()) if s != {"type": "null"}]
    if "anyOf" in schema:
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        schema = {**options[0], **rest} if len(options) == 1 else {**rest, "anyOf": options}
    return schema


def _role_text(roles: tuple[str, ...]) -> str:
    if not roles:
        return "no token needed"
    return ", or ".join(token_words(role) if role in OFF_LADDER else f"{role} or above" if role != ROLES[-1]
                        else "admin" for role in roles)


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every declared route (made once per process)."""
    from twin.serving.routes import api_routes

    return build(api_routes())


def build(table: list[ApiRoute]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``table``."""
    types: list[Any] = [ApiError]
    for route in table:
        types.extend(t for t in _declared(route) if t not in types)
    schemas, components = msgspec.json.schema_components(types, ref_template=REF)
    schema_of = {id(t): s for t, s in zip(types, schemas)}
    for name, cls in _classes(types).items():
        props = components.get(name, {}).get("properties", {})
        if typing.is_typeddict(cls):  # msgspec sorts a TypedDict's keys: list them as declared
            order = list(typing.get_type_hints(cls))
            props = components[name]["properties"] = dict(sorted(props.items(), key=lambda item: order.index(item[0])))
        for field, text in field_docs(cls).items():
            if field in props and "description" not in props[field]:
                props[field] = {**props[field], "description": text} if "$ref" not in props[field] else {
                    "allOf": [props[field]], "description": text}

    def schema(value: Any) -> Any:
        if isinstance(value, Media):
            return dict(value.schema)
        if isinstance(value, dict):
            return value
        return schema_of[id(value)]

    paths: dict[str, dict[str, Any]] = {}
    ids: set[str] = set()
    for route in table:
        op_id = f"{route.method.lower()}_{route.handler.__name__}"
        assert op_id not in ids, f"operation id {op_id} is used twice"
        ids.add(op_id)
        doc = inspect.getdoc(route.handler) or ""
        rest = doc.split("\n\n", 1)[1] if "\n\n" in doc else ""
        description = (route.description or rest.replace("\n", " ")).strip()
        role_line = f"Role: {_role_text(route.roles)}."
        op: dict[str, Any] = {
            "operationId": op_id,
            "summary": route.first_line(),
            "description": f"{description}\n\n{role_line}".strip(),
            "tags": [route.tag] if route.tag else [],
            # the least role, or the list of roles any one of which may (null: no token)
            "x-role": route.role if route.role is None or isinstance(route.role, str) else list(route.role),
            "security": [] if route.role is None else [{"bearer": []}, {"token": []}],
        }
        params = [{"name": name, "in": "path", "required": True, "schema": schema(_path_schema(route, name, conv))}
                  for name, conv in route.converters.items()]
        if route.query is not None:
            query_docs = field_docs(route.query)
            component = components[route.query.__name__]
            required = set(component.get("required", ()))
            for name, prop in component["properties"].items():
                param = {"name": name, "in": "query", "required": name in required, "schema": _query_schema(prop)}
                if query_docs.get(name):
                    param["description"] = query_docs[name]
                params.append(param)
        if params:
            op["parameters"] = params
        if route.body_types:
            # Required even where an empty body stands for {}: its Content-Type is (the guard's
            # defence against cross-site requests), and OpenAPI cannot say "empty but typed".
            op["requestBody"] = {
                "required": True,
                "content": {media: {"schema": schema(kind)} for media, kind in route.body_types.items()},
            }
            if route.empty_body:
                op["requestBody"]["description"] = "may be empty (it then stands for {}), but sent with its Content-Type"
        responses: dict[str, Any] = {}
        for status, kind in _answers(route).items():
            if isinstance(kind, tuple) and all(isinstance(k, Media) for k in kind):
                text = " or ".join(k.description for k in kind) or _REASONS.get(status, "")
                responses[str(status)] = {"description": text, "content": {k.type: {"schema": schema(k)} for k in kind}}
                continue
            if isinstance(kind, tuple):  # one of several JSON shapes, and answers of other media types
                shapes = [k for k in kind if not isinstance(k, Media)]
                media = [k for k in kind if isinstance(k, Media)]
                text = " or ".join([*(_first_line(k) for k in shapes), *(m.description for m in media)])
                content = {JSON: {"schema": schema(shapes[0]) if len(shapes) == 1 else {"oneOf": [schema(k) for k in shapes]}}}
                content.update({m.type: {"schema": schema(m)} for m in media})
                responses[str(status)] = {"description": text, "content": content}
                continue
            if isinstance(kind, Media):
                text = kind.description or _REASONS.get(status, "")
                responses[str(status)] = {"description": text, "content": {kind.type: {"schema": schema(kind)}}}
                continue
            if kind is ApiError:
                codes = sorted(c.value for c, (s, _) in API_ERRORS.items() if s == status)
                text = f"{_REASONS.get(status, '')}: an ApiError, code {' or '.join(codes)}"
            else:
                text = _first_line(kind) or _REASONS.get(status, "")
            responses[str(status)] = {"description": text, "content": {JSON: {"schema": schema(kind)}}}
        responses["421"] = {"$ref": "#/components/responses/Misdirected"}
        op["responses"] = dict(sorted(responses.items()))
        paths.setdefault(route.open_path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Lifeline Twin HTTP API",
            "version": __version__,
            "description": (
                "The twin's HTTP API: the district, alarms, actions, replay, geometry, readings and health. "
                "The live stream is a WebSocket at `/ws` (subprotocol `" + SUBPROTOCOL + "`), described in "
                "docs/protocol.md. Once a token exists in the server's data folder every route but those marked "
                "`no token needed` takes one, as `Authorization: Bearer <token>` or `?token=<token>`; each route "
                "names the least role it needs (viewer < operator < director < admin; device posts readings only). "
                "Every refusal is an ApiError: a one-line `error` and a stable `code`. Mutating requests must send "
                "`Content-Type: application/json` (or a type the route names) and no foreign Origin."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "a token of `twin token add ROLE`"},
                "token": {"type": "apiKey", "in": "query", "name": "token", "description": "the same token, in the query"},
            },
            "responses": {
                "Misdirected": {"description": "Host not served: the Host header is not a name this server answers to",
                                "content": {JSON: {"schema": {"$ref": REF.format(name="ApiError")}}}},
            },
        },
    }


def _first_line(kind: Any) -> str:
    doc = inspect.getdoc(kind) if isinstance(kind, type) else None
    return doc.split("\n\n", 1)[0].replace("\n", " ") if doc else ""


# ------------------------------------------------------------------ docs/api.md

#: the generated sections of docs/api.md, each between ``<!-- generated: NAME -->`` and
#: ``<!-- end generated -->``
SECTIONS = ("api-routes", "api-errors", "api-shapes")
_SECTION = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def type_text(schema: Any) -> str:
    """A JSON schema as a short type for a table: ``[Alarm]``, ``{string: number}``,
    ``"ok" | "degraded"``, ``integer ≥ 1``; components link to their section."""
    if not isinstance(schema, dict) or not schema:
        return "any"
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return type_text(schema["allOf"][0])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(type_text(s) for s in schema[key])
    if "enum" in schema:
        return " | ".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"], ensure_ascii=False)
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(type_text({**schema, "type": k}) for k in kind)
    if kind == "array":
        if "prefixItems" in schema:
            return "[" + ", ".join(type_text(s) for s in schema["prefixItems"]) + "]"
        return f"[{type_text(schema.get('items', {}))}]"
    if kind == "object":
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            return f"{{string: {type_text(extra)}}}"
        return "object"
    bounds = [f"≥ {schema['minimum']}" if "minimum" in schema else "", f"≤ {schema['maximum']}" if "maximum" in schema else "",
              f"≥ {schema['minLength']} chars" if "minLength" in schema else ""]
    return " ".join([str(kind or "any"), *[b for b in bounds if b]])


def _routes_section(doc: dict[str, Any]) -> str:
    lines = ["| method | path | role | what | body | answers |", "|---|---|---|---|---|---|"]
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {})
            body_text = "<br>".join(f"{type_text(c['schema'])} ({media})" if media != JSON else type_text(c["schema"])
                                    for media, c in body.items()) or "—"
            answers = ", ".join(code for code in op["responses"])
            role = " or ".join(op["x-role"]) if isinstance(op["x-role"], list) else op["x-role"] or "none"
            lines.append(f"| {method.upper()} | `{path}` | {role} | {_cell(op['summary'])} | {_cell(body_text)} | {answers} |")
    return "\n".join(lines) + "\n"


def _errors_section() -> str:
    lines = ["| code | status | meaning |", "|---|---|---|"]
    lines += [f"| `{code.value}` | {status} | {_cell(meaning)} |" for code, (status, meaning) in API_ERRORS.items()]
    return "\n".join(lines) + "\n"


def _shapes_section(doc: dict[str, Any]) -> str:
    out: list[str] = []
    for name, schema in sorted(doc["components"]["schemas"].items()):
        out.append(f"### {name}\n")
        description = " ".join(str(schema.get("description", "")).split())
        if description:
            out.append(f"{description}\n")
        props = schema.get("properties")
        if props is None:
            out.append(f"{type_text(schema)}\n")
            continue
        required = set(schema.get("required", ()))
        out.append("| field | type | required | description |\n|---|---|---|---|")
        for field, prop in props.items():
            text = prop.get("description", "") if isinstance(prop, dict) else ""
            out.append(f"| `{field}` | {_cell(type_text(prop))} | {'yes' if field in required else 'no'} | {_cell(text)} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def sections(doc: dict[str, Any] | None = None) -> dict[str, str]:
    """The body of each generated section of docs/api.md, from the document."""
    doc = document() if doc is None else doc
    return {"api-routes": _routes_section(doc), "api-errors": _errors_section(), "api-shapes": _shapes_section(doc)}


def rewrite(page: str, doc: dict[str, Any] | None = None) -> str:
    """``page`` with each generated section replaced by what the declarations give."""
    made = sections(doc)
    return _SECTION.sub(lambda m: m.group(1) + made[m.group("name")] + m.group(4) if m.group("name") in made else m.group(0), page)


def main(argv: list[str] | None = None) -> int:
    """``python -m twin.serving.openapi``: print the document, or ``--write docs/api.md``
    to rewrite that page's generated sections."""
    parser = argparse.ArgumentParser(prog="python -m twin.serving.openapi", description=main.__doc__)
    parser.add_argument("--write", type=Path, metavar="PAGE", help="rewrite the generated sections of this page")
    args = parser.parse_args(argv)
    if args.write is None:
        json.dump(document(), sys.stdout, indent=1, ensure_ascii=False)
        print()
        return 0
    page = args.write
    page.write_text(rewrite(page.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
