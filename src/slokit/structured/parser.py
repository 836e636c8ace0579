"""The structured-output pipeline: extract, repair, coerce, validate; cheapest step first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from slokit.errors import ConfigError
from slokit.structured.coerce import coerce
from slokit.structured.extract import fenced_blocks, repair_targets, spans
from slokit.structured.repair import NOTHING, repair_load, strict_load
from slokit.structured.result import Action, JSONValue, ParseResult
from slokit.structured.validate import AcceptAll, SchemaValidator, Validator

DEFAULT_MAX_REPAIR_CHARS: Final = 4096
"""Longest text handed to the repairer. json-repair costs about 1 ms per KB on common breakage
(cut-off, Python literals, trailing commas) but is quadratic on some inputs: unquoted keys and
values took 27 ms at 1 KiB, 104 ms at 2 KiB, 420 ms at 4 KiB and 1.6 s at 8 KiB on the 2-core
development machine (benchmarks/structured_speed.py, "pathological"; up to 3.5x that when the
machine was busy). 4 KiB keeps the worst case measured around half a second and covers typical
JSON answers; a longer reply that is not strict JSON fails in microseconds and goes to a
re-ask."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ParserConfig:
    """How hard the pipeline tries before it reports failure.

    ``max_repair_chars`` caps the repairer's work (see :data:`DEFAULT_MAX_REPAIR_CHARS`);
    ``max_repair_targets`` is how many places in one reply (code fences, then the text from
    the first ``{`` or ``[``) it may repair; ``coerce`` turns schema coercion on;
    ``max_errors`` bounds the violations reported.
    """

    max_repair_chars: int = DEFAULT_MAX_REPAIR_CHARS
    max_repair_targets: int = 3
    coerce: bool = True
    max_errors: int = 5

    def __post_init__(self) -> None:
        if self.max_repair_chars < 0:
            raise ConfigError(
                f"max_repair_chars must be >= 0 (0: never repair), got {self.max_repair_chars}"
            )
        for name in ("max_repair_targets", "max_errors"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")


DEFAULT_PARSER_CONFIG: Final = ParserConfig()


class StructuredParser:
    """Turns model text into a value valid under one JSON Schema (or any JSON value).

    Compile once per schema and reuse: ``StructuredParser(schema).parse(text)``. The steps,
    each tried only when the ones before it found no valid value:

    1. the whole text as strict JSON (orjson): ``valid`` if it validates;
    2. code-fence contents and the span from the first opener to the last closer, strict;
    3. json-repair on the fence contents, then on the text from the first opener, each under
       ``max_repair_chars``; several values in one reply become several candidates;
    4. schema coercion of each candidate, in the order found;

    a candidate from steps 2-3 that validates is ``repaired``, from step 4 ``coerced``.
    """

    def __init__(
        self,
        schema: Mapping[str, object] | None = None,
        *,
        config: ParserConfig = DEFAULT_PARSER_CONFIG,
    ) -> None:
        self._schema = schema
        self._config = config
        self._validator: Validator = AcceptAll() if schema is None else SchemaValidator(schema)

    @property
    def schema(self) -> Mapping[str, object] | bool | None:
        return self._schema

    @property
    def config(self) -> ParserConfig:
        return self._config

    def validate(self, value: JSONValue) -> tuple[str, ...]:
        """The schema violations of ``value`` (empty when valid)."""
        return self._validator.errors(value, limit=self._config.max_errors)

    def parse(self, text: str) -> ParseResult:
        """The best value in ``text`` and how it was obtained; never raises on any text."""
        candidates: list[JSONValue] = []
        found, complete = self._strict(text, candidates)
        too_long = False
        if found is None and not complete:
            # A complete value that parses but fails the schema is a coercion matter:
            # repairing the same text again would only cost time.
            found, too_long = self._repair(text, candidates)
        if found is not None:
            return found
        if self._config.coerce and self._schema is not None:
            for candidate in candidates:
                value, coercions = coerce(candidate, self._schema)
                if coercions and self._validator.is_valid(value):
                    return ParseResult(
                        ok=True, value=value, action=Action.COERCED, coercions=coercions
                    )
        return self._failure(candidates, text, too_long=too_long)

    def _strict(self, text: str, candidates: list[JSONValue]) -> tuple[ParseResult | None, bool]:
        """Strict parses of the whole text, code fences and spans; and whether one of the
        whole text, a fence or the outermost span parsed (a value nested in a broken one,
        such as an array inside a cut-off object, does not count)."""
        is_valid = self._validator.is_valid
        whole = strict_load(text)
        if whole is not NOTHING:
            if is_valid(whole):
                return ParseResult(ok=True, value=whole, action=Action.VALID), True
            candidates.append(whole)
            return None, True
        complete = False
        blocks = fenced_blocks(text)
        # Past the fences and the outermost span come values nested in a broken one: worth
        # a try against a schema, but without one they would be taken for the whole answer.
        outer = len(blocks) + 1
        pieces = (*blocks, *spans(text))
        for index, piece in enumerate(pieces if self._schema is not None else pieces[:outer]):
            value = strict_load(piece)
            if value is NOTHING:
                continue
            if is_valid(value):
                return ParseResult(ok=True, value=value, action=Action.REPAIRED), True
            candidates.append(value)
            complete = complete or index < outer
        return None, complete

    def _repair(self, text: str, candidates: list[JSONValue]) -> tuple[ParseResult | None, bool]:
        max_chars = self._config.max_repair_chars
        too_long = False
        for target in repair_targets(text, limit=self._config.max_repair_targets):
            if len(target) > max_chars:
                too_long = True
                continue
            for value in _split(repair_load(target, max_chars=max_chars), target):
                if self._validator.is_valid(value):
                    return ParseResult(ok=True, value=value, action=Action.REPAIRED), too_long
                candidates.append(value)
        return None, too_long

    def _failure(self, candidates: list[JSONValue], text: str, *, too_long: bool) -> ParseResult:
        if candidates:
            best = candidates[0]
            return ParseResult(
                ok=False, value=best, action=Action.FAILED, errors=self.validate(best)
            )
        if too_long:
            reason = (
                f"the reply is not valid JSON and is longer ({len(text)} characters) than the "
                f"{self._config.max_repair_chars} characters the repairer may take"
            )
        else:
            reason = "the reply holds no JSON value"
        return ParseResult(ok=False, value=None, action=Action.FAILED, errors=(reason,))


def _split(value: object, target: str) -> list[JSONValue]:
    """Candidates from one repair: the repairer returns several values as one list."""
    if value is NOTHING:
        return []
    if isinstance(value, list) and value and target.startswith("{"):
        # The target began with an object, so a list means several values side by side:
        # the objects first, and the list itself for a schema that asks for an array.
        return [*value, value]
    return [value]
