"""`GET /openapi.json`: the OpenAPI 3.1 document of the REST API, generated from the endpoint
declarations (`app.http.endpoints`) and the msgspec types their handlers read and answer."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from app.access.idempotency import HEADER as IDEMPOTENCY_HEADER
from app.http.endpoints import Endpoint
from app.http.errors import ErrorEnvelope

_PATH_PARAMETER: Final = re.compile(r"{(\w+)}")
_REASONS: Final = {
    400: "Malformed JSON, or a malformed Idempotency-Key",
    401: "Missing or invalid token",
    403: "The token may not do this",
    404: "No such resource",
    409: "Conflicts with the resource's state (or a request with this key is in progress)",
    413: "The body is over the size limit",
    415: "The body's Content-Type is not the one this endpoint takes",
    422: "The body or query breaks the schema; `field` names what",
    429: "Over the rate limit; see Retry-After",
    503: "The session's actor failed or the server is stopping; retry later",
}


def openapi_document(endpoints: Sequence[Endpoint[Any]], version: str) -> dict[str, Any]:
    types: list[Any] = [ErrorEnvelope]
    for endpoint in endpoints:
        for kind in (endpoint.answer, endpoint.body, endpoint.query):
            if kind is not None and kind is not str:
                types.append(kind)
    schemas, components = msgspec.json.schema_components(
        types, ref_template="#/components/schemas/{name}"
    )
    schema_of = dict(zip(map(id, types), schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        operation = _operation(endpoint, schema_of, components)
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Vigil",
            "version": version,
            "description": "Real-time proctoring server: the REST API of CONTRACT.md section 3 "
            "and its extensions. Errors are always {error: {code, message, field?}}. No string "
            "may contain NUL (U+0000), and no time may fall outside years 1 to 9999 once its "
            "offset is applied: either is a 422 naming the field.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


_WHO = {
    "admin": "admin",
    "reviewer": "admin, reviewer",
    "candidate": "admin, this session's candidate",
    "reader": "admin, reviewer, this session's candidate",
    "own_record": "admin, reviewer, this session's candidate (also after its token expired)",
}


def _operation(
    endpoint: Endpoint[Any], schema_of: dict[int, Any], components: dict[str, Any]
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "operationId": endpoint.handler.__name__,
        "parameters": _parameters(endpoint, components),
        "responses": {str(endpoint.status): _success(endpoint, schema_of)},
    }
    if endpoint.ranges:
        operation["responses"]["206"] = {
            **_success(endpoint, schema_of),
            "description": "The part the Range header asked for (Content-Range says which)",
        }
    if endpoint.auth == "none":
        operation["security"] = []
    else:
        operation["description"] = f"Tokens allowed: {_WHO[endpoint.auth]}."
    if endpoint.body is not None:
        schema = schema_of[id(endpoint.body)]
        if endpoint.body_rule == "nonempty":
            schema = _naming_a_field(schema, components[endpoint.body.__name__])
        operation["requestBody"] = {
            "required": endpoint.body_rule != "optional",
            "content": {"application/json": {"schema": schema}},
        }
    if endpoint.binary_body:
        binary = {"schema": {"type": "string", "format": "binary"}}
        operation["requestBody"] = {
            "required": True,
            "content": dict.fromkeys(endpoint.binary_body, binary),
        }
    errors = set(endpoint.errors)
    if endpoint.auth != "none":
        errors |= {401, 403, 429}
    if endpoint.idempotent_key:
        errors |= {400, 409}  # a malformed key; the same key still in flight
    if "{session_id}" in endpoint.path:
        errors |= {503}  # the session's actor failed or is stopping
    error_schema = schema_of[id(ErrorEnvelope)]
    for status in sorted(errors):
        operation["responses"][str(status)] = {
            "description": _REASONS.get(status, "Error"),
            "content": {"application/json": {"schema": error_schema}},
        }
    return operation


def _naming_a_field(schema: dict[str, Any], component: dict[str, Any]) -> dict[str, Any]:
    """A PUT body that must name at least one field: a null one counts as not named."""
    return {
        **schema,
        "minProperties": 1,
        "anyOf": [
            {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
            for name in component["properties"]
        ],
    }


def _success(endpoint: Endpoint[Any], schema_of: dict[int, Any]) -> dict[str, Any]:
    if endpoint.answer is None:
        return {"description": "Done; no body"}
    schema = {"type": "string"} if endpoint.answer is str else schema_of[id(endpoint.answer)]
    content = {endpoint.media_type: {"schema": schema}}
    for media_type in endpoint.alternates:
        content[media_type] = {"schema": {"type": "string"}}
    return {"description": endpoint.summary, "content": content}


def _parameters(endpoint: Endpoint[Any], components: dict[str, Any]) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAMETER.findall(endpoint.path)
    ]
    if endpoint.query is not None:
        query = components[endpoint.query.__name__]
        for name, schema in query["properties"].items():
            required = name in query.get("required", ())
            parameters.append({"name": name, "in": "query", "required": required, "schema": schema})
    if endpoint.idempotent_key:
        parameters.append(
            {
                "name": IDEMPOTENCY_HEADER,
                "in": "header",
                "required": False,
                "description": "Retrying with the same key answers as the first request did and "
                "changes nothing again (kept 24 h, per token).",
                # app/access/idempotency.py: visible ASCII, 0x21 to 0x7e.
                "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
            }
        )
    if endpoint.ranges:
        parameters.append(
            {
                "name": "Range",
                "in": "header",
                "required": False,
                "description": "One byte range, as a browser's <video> asks: 206 with that part, "
                "416 for a range outside the file.",
                "schema": {"type": "string", "pattern": "^bytes=[0-9]{0,18}-[0-9]{0,18}$"},
            }
        )
    return parameters


def openapi_handler(
    endpoints: Sequence[Endpoint[Any]], version: str
) -> Callable[[Request], Awaitable[Response]]:
    """The handler serving the document, encoded once. Public, like the pages: it describes the
    API and holds no data."""
    body = msgspec.json.encode(openapi_document(endpoints, version))

    async def openapi_json(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return openapi_json
