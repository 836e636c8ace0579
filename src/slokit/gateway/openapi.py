"""The OpenAPI 3.1 document of the gateway's own API (served at ``GET /openapi.json``)."""

from __future__ import annotations

from typing import Any

from slokit import __version__

_SCHEMAS = "#/components/schemas/"
_ERROR = {"$ref": _SCHEMAS + "Error"}
_MAX_TOKENS = {"type": ["integer", "null"], "minimum": 1}
_STREAM_OPTIONS = {
    "type": ["object", "null"],
    "properties": {"include_usage": {"type": "boolean"}},
}


def _error_responses(*statuses: int) -> dict[str, Any]:
    meanings = {
        400: "Malformed JSON, wrong types or missing fields.",
        401: "Missing or incorrect API key (when tenants are configured).",
        404: "Unknown model.",
        413: "Request body larger than server.max_body_bytes.",
        429: "Rate limited or shed by admission; see Retry-After.",
        502: "The upstream failed.",
        503: "No upstream replica is reachable.",
        504: "The upstream missed a deadline.",
    }
    return {
        str(status): {
            "description": meanings[status],
            "content": {"application/json": {"schema": _ERROR}},
        }
        for status in statuses
    }


def _generation(summary: str, schema: str, *, streams: bool) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": {"type": "object"}}}
    if streams:
        content["text/event-stream"] = {"schema": {"type": "string"}}
    return {
        "post": {
            "summary": summary,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}
                },
            },
            "responses": {
                "200": {"description": "The upstream's reply, or its stream.", "content": content},
                **_error_responses(400, 401, 404, 413, 429, 502, 503, 504),
            },
            "security": [{"bearer": []}, {}],
        }
    }


def _plain_get(summary: str, content_type: str = "application/json") -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "responses": {"200": {"description": summary, "content": {content_type: {}}}},
        }
    }


def openapi_document() -> dict[str, Any]:
    """The document; request schemas list what the gateway checks, upstreams check the rest."""
    message = {
        "type": "object",
        "required": ["role", "content"],
        "properties": {
            "role": {"enum": ["system", "user", "assistant", "tool", "developer"]},
            "content": {"type": ["string", "null"]},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "slokit gateway",
            "version": __version__,
            "description": "OpenAI-compatible gateway with SLO-aware admission control.",
        },
        "paths": {
            "/v1/chat/completions": _generation(
                "Chat completion (streamed with stream: true)",
                "ChatCompletionRequest",
                streams=True,
            ),
            "/v1/completions": _generation(
                "Text completion (streamed with stream: true)", "CompletionRequest", streams=True
            ),
            "/v1/embeddings": _generation("Embeddings", "EmbeddingRequest", streams=False),
            "/v1/models": _plain_get("The models this gateway serves"),
            "/healthz": _plain_get("Liveness"),
            "/readyz": _plain_get("Readiness (503 until the upstream pool is open)"),
            "/metrics": _plain_get("Prometheus metrics", "text/plain"),
            "/openapi.json": _plain_get("This document"),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "ChatCompletionRequest": {
                    "type": "object",
                    "required": ["model", "messages"],
                    "properties": {
                        "model": {"type": "string", "minLength": 1},
                        "messages": {"type": "array", "minItems": 1, "items": message},
                        "stream": {"type": ["boolean", "null"]},
                        "stream_options": _STREAM_OPTIONS,
                        "max_tokens": _MAX_TOKENS,
                        "max_completion_tokens": _MAX_TOKENS,
                        "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
                    },
                },
                "CompletionRequest": {
                    "type": "object",
                    "required": ["model", "prompt"],
                    "properties": {
                        "model": {"type": "string", "minLength": 1},
                        "prompt": {
                            "anyOf": [
                                {"type": "string"},
                                {"type": "array", "minItems": 1, "items": {"type": "string"}},
                            ]
                        },
                        "stream": {"type": ["boolean", "null"]},
                        "stream_options": _STREAM_OPTIONS,
                        "max_tokens": _MAX_TOKENS,
                        "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
                    },
                },
                "EmbeddingRequest": {
                    "type": "object",
                    "required": ["model", "input"],
                    "properties": {
                        "model": {"type": "string", "minLength": 1},
                        "input": {
                            "anyOf": [
                                {"type": "string"},
                                {"type": "array", "minItems": 1, "items": {"type": "string"}},
                            ]
                        },
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["message", "type", "param", "code"],
                            "properties": {
                                "message": {"type": "string"},
                                "type": {"type": "string"},
                                "param": {"type": ["string", "null"]},
                                "code": {"type": ["string", "null"]},
                            },
                        }
                    },
                },
            },
        },
    }
