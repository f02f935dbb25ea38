"""Routes declared once, with their models and who may call them, so neither the OpenAPI
document nor the security check can drift from them (`latchkey.common.guard` enforces it)."""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, TypeAdapter

from latchkey.common.edge import Handler, add_route
from latchkey.common.guard import Security, guard
from latchkey.common.models import omitted_not_null

ENDPOINTS = web.AppKey("endpoints", list["Endpoint"])
_REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[^}]*)?\}")

_ERROR_CODES = {
    400: "Bad request or malformed JSON",
    401: "Missing, invalid, expired or revoked credential",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone: no longer kept",
    413: "Body too large",
    422: "Validation failed",
    429: "Too many attempts",
    503: "Unavailable",
}


@dataclass(frozen=True)
class Endpoint:
    """One route: what it takes, what it answers, who may call it."""

    method: str
    path: str
    handler: Handler
    summary: str
    body: Any = None
    query: type[BaseModel] | None = None
    response: Any = None
    security: Security = "none"
    callers: tuple[str, ...] = ()
    """For `security="service"`: the services that may call it."""
    role: str | None = None
    """For `security="bearer"`: the role the token must carry."""
    allow_disabled: bool = False
    """For `security="bearer"`: a disabled token is admitted (only to take rights away)."""
    status: int = 200
    errors: tuple[int, ...] = ()
    tags: tuple[str, ...] = ()
    in_schema: bool = True
    extra_responses: dict[int, str] = field(default_factory=dict)


def add_endpoints(app: web.Application, endpoints: Iterable[Endpoint]) -> None:
    """Register the routes behind the check their security asks for, and remember them for
    `/openapi.json`."""
    registered = app.setdefault(ENDPOINTS, [])
    for endpoint in endpoints:
        handler = guard(
            endpoint.handler,
            security=endpoint.security,
            callers=endpoint.callers,
            role=endpoint.role,
            allow_disabled=endpoint.allow_disabled,
        )
        add_route(app, endpoint.method, endpoint.path, handler)
        registered.append(endpoint)


class _SchemaCollector:
    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def schema(self, annotation: Any, mode: Literal["validation", "serialization"]) -> Any:
        generated = TypeAdapter(annotation).json_schema(by_alias=True, ref_template=_REF, mode=mode)
        self.components.update(generated.pop("$defs", {}))
        return generated


def _envelope_schema(data: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["message", "code", "data"],
        "properties": {
            "message": {"type": "string"},
            "code": {"type": "integer"},
            "data": data,
        },
    }


def _operation(endpoint: Endpoint, collector: _SchemaCollector) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(endpoint.path)
    ]
    if endpoint.query is not None:
        query_schema = collector.schema(endpoint.query, "validation")
        required = set(query_schema.get("required", []))
        for name, prop in query_schema.get("properties", {}).items():
            omitted_not_null(prop)  # a query parameter is absent or a string, never null
            parameters.append(
                {"name": name, "in": "query", "required": name in required, "schema": prop}
            )
    data = collector.schema(endpoint.response, "serialization") if endpoint.response else {}
    responses: dict[str, Any] = {
        str(endpoint.status): {
            "description": "Success",
            "content": {"application/json": {"schema": _envelope_schema(data)}},
        }
    }
    codes = set(endpoint.errors)
    if endpoint.body is not None or endpoint.query is not None:
        codes |= {400, 422}
    if endpoint.body is not None:
        codes |= {413}
    if _PATH_PARAM.search(endpoint.path):
        codes |= {404}  # a path parameter names something, which may not exist
    if endpoint.security != "none":
        codes |= {401}
    if endpoint.security == "service" or endpoint.role is not None:
        codes |= {403}
    for code in sorted(codes):
        responses[str(code)] = {
            "description": _ERROR_CODES.get(code, "Error"),
            "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}},
        }
    for code, description in endpoint.extra_responses.items():
        responses[str(code)] = {"description": description}
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "operationId": f"{endpoint.method.lower()}_{endpoint.handler.__name__}",
        "parameters": parameters,
        "responses": responses,
    }
    if endpoint.tags:
        operation["tags"] = list(endpoint.tags)
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": collector.schema(endpoint.body, "validation")}
            },
        }
    if endpoint.security == "bearer":
        operation["security"] = [{"bearer": []}]
        if endpoint.role:
            operation["x-latchkey-role"] = endpoint.role
    elif endpoint.security == "service":
        operation["security"] = [{"service": []}]
        operation["x-latchkey-callers"] = list(endpoint.callers)
    return operation


def build_document(endpoints: Iterable[Endpoint], *, title: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of these endpoints."""
    collector = _SchemaCollector()
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        if endpoint.in_schema:
            path = _PATH_PARAM.sub(r"{\1}", endpoint.path)
            paths.setdefault(path, {})[endpoint.method.lower()] = _operation(endpoint, collector)
    collector.components["Error"] = {
        "type": "object",
        "required": ["message", "code", "reason", "data"],
        "properties": {
            "message": {"type": "string"},
            "code": {"type": "integer"},
            "reason": {"type": "string"},
            "data": {},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": collector.components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "service": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A service credential (LATCHKEY_<SERVICE>_CREDENTIAL) of "
                    "one of the services `x-latchkey-callers` names.",
                },
            },
        },
    }


def setup_openapi(app: web.Application, *, title: str, version: str) -> None:
    """Serve `/openapi.json`, built once from the endpoints registered by then."""
    document: dict[str, Any] = {}

    async def openapi(request: web.Request) -> web.Response:
        if not document:
            endpoints = request.app[ENDPOINTS]
            document.update(build_document(endpoints, title=title, version=version))
        return web.json_response(document)

    add_route(app, "GET", "/openapi.json", openapi)
