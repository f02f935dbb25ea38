"""Routes declared once, with their models, so the OpenAPI document cannot drift from them."""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, TypeAdapter

from latchkey.common.edge import Handler, add_route

Security = Literal["none", "bearer", "service"]

ENDPOINTS = web.AppKey("endpoints", list["Endpoint"])
_REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[^}]*)?\}")

_ERROR_CODES = {
    400: "Bad request or malformed JSON",
    401: "Missing, invalid, expired or revoked credential",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
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
    status: int = 200
    errors: tuple[int, ...] = ()
    tags: tuple[str, ...] = ()
    in_schema: bool = True
    extra_responses: dict[int, str] = field(default_factory=dict)


def add_endpoints(app: web.Application, endpoints: Iterable[Endpoint]) -> None:
    """Register the routes and remember them for `/openapi.json`."""
    registered = app.setdefault(ENDPOINTS, [])
    for endpoint in endpoints:
        add_route(app, endpoint.method, endpoint.path, endpoint.handler)
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
    if endpoint.security != "none":
        codes |= {401}
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
    elif endpoint.security == "service":
        operation["security"] = [{"service": []}]
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
                    "description": "The service credential, LATCHKEY_INTERNAL_TOKEN.",
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
