"""The OpenAPI document says what each route really answers: every error is an RFC 9457
problem (``application/problem+json``, schema ``Problem``) under ``4XX`` or its own status,
FastAPI's default 422 body (which this API never sends) is gone, and the OAuth2 client
credentials flow is the security scheme of every operation that needs a token.

Request body schemas that a route declares itself (``openapi_extra``, with ``$defs``) have their
definitions moved to ``components/schemas`` so that references resolve in the whole document.
"""

from __future__ import annotations

import json
from typing import Any, get_args

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from gateway.config import Scope

PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem", "type": "object", "description": "RFC 9457 problem details; members beyond these "
    "(e.g. `field`, `errors`, `retry_after`) carry more about the problem, never personal data",
    "required": ["type", "title", "status"],
    "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                   "status": {"type": "integer", "minimum": 400, "maximum": 599},
                   "detail": {"type": "string"}, "instance": {"type": "string"}},
    "additionalProperties": True,
}
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/oauth/token"})
SCOPES: dict[str, str] = {"applications:submit": "submit applications (portal backends)",
                          "cases:read": "read cases, attachments, events", "cases:write": "change and forward cases",
                          "admin": "quarantine, dead letters, refusals of the client's municipalities"}
assert set(SCOPES) == set(get_args(Scope))


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}}}


def _moved(part: Any, prefix: str) -> Any:
    return json.loads(json.dumps(part).replace('"#/$defs/', f'"#/components/schemas/{prefix}'))


def _hoist_defs(schema_holder: dict[str, Any], components: dict[str, Any]) -> None:
    """Move ``$defs`` of an inline request body schema to the components, prefixed with the
    schema's title (the same model may appear there in its serialisation form already)."""
    for content in schema_holder.get("content", {}).values():
        schema = content.get("schema", {})
        defs = schema.pop("$defs", None)
        if not defs:
            continue
        prefix = f"{schema.get('title', 'Body')}_"

        content["schema"] = _moved(schema, prefix)
        for name, definition in defs.items():
            components[prefix + name] = _moved(definition, prefix)


def build(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    components["securitySchemes"] = {"clientCredentials": {
        "type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": "/oauth/token", "scopes": SCOPES}}}}
    for path, operations in doc.get("paths", {}).items():
        for operation in operations.values():
            if "requestBody" in operation:
                _hoist_defs(operation["requestBody"], schemas)
            responses: dict[str, Any] = operation.setdefault("responses", {})
            for code, response in list(responses.items()):
                content = response.get("content", {})
                refs = json.dumps(content)
                if code == "422" and "HTTPValidationError" in refs:
                    del responses[code]
                elif code[0] in "45" and not content:
                    responses[code] = _problem_response(response.get("description", "problem"))
            responses.setdefault("4XX", _problem_response(
                "the request cannot be served: an RFC 9457 problem (401 without a valid token, 403 without "
                "the scope or the municipality, 404, 413, 415, 422 with the field, 429 with Retry-After, ...)"))
            responses.setdefault("503", _problem_response(
                "temporarily unavailable (the gateway's database cannot be reached, an upstream is down): nothing "
                "was kept; send the request again after Retry-After, with the same Idempotency-Key"))
            if path not in PUBLIC_PATHS:
                operation["security"] = [{"clientCredentials": []}]
    app.openapi_schema = doc
    return doc


def install(app: FastAPI) -> None:
    app.openapi = lambda: build(app)  # type: ignore[method-assign]
