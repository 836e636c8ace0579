"""Structured output: JSON extraction, repair, schema coercion, validation and re-ask policy.

Pure (no HTTP): :class:`StructuredParser` turns model text into a value valid under a JSON
Schema at CPU cost, :func:`reask` drives follow-up model calls through a callable when that
fails, and :class:`StreamingParser` reads a streamed answer as it arrives.
"""

from slokit.structured.coerce import coerce
from slokit.structured.parser import (
    DEFAULT_MAX_REPAIR_CHARS,
    DEFAULT_PARSER_CONFIG,
    ParserConfig,
    StructuredParser,
)
from slokit.structured.reask import (
    DEFAULT_REASK_CONFIG,
    AsyncModelCall,
    Message,
    ModelCall,
    ModelReply,
    ReaskConfig,
    ReaskOutcome,
    ReaskSession,
    reask,
    reask_async,
)
from slokit.structured.result import Action, Coercion, CoercionKind, JSONValue, ParseResult
from slokit.structured.stream import StreamingParser
from slokit.structured.validate import SchemaValidator, Validator

__all__ = [
    "DEFAULT_MAX_REPAIR_CHARS",
    "DEFAULT_PARSER_CONFIG",
    "DEFAULT_REASK_CONFIG",
    "Action",
    "AsyncModelCall",
    "Coercion",
    "CoercionKind",
    "JSONValue",
    "Message",
    "ModelCall",
    "ModelReply",
    "ParseResult",
    "ParserConfig",
    "ReaskConfig",
    "ReaskOutcome",
    "ReaskSession",
    "SchemaValidator",
    "StreamingParser",
    "StructuredParser",
    "Validator",
    "coerce",
    "reask",
    "reask_async",
]
