"""The labelled-pairs protocol: cache every ``text_a``, look up every ``text_b``, count.

A hit is correct when the entry served is the query's own text or is linked to it by label-1
pairs, directly or through a chain of them; every other hit is a false hit. A lookup is a
positive when the cache holds at least one correct entry for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from slokit.cache.calibration import Calibration, LabelledLookup
from slokit.cache.store import Vector
from slokit.errors import DataError

EmbedTexts = Callable[[Sequence[str]], Vector]


@dataclass(frozen=True, slots=True)
class Pair:
    text_a: str
    text_b: str
    duplicate: bool


def read_pairs(path: Path) -> list[Pair]:
    """``{"text_a": str, "text_b": str, "label": 0|1}`` per line."""
    pairs: list[Pair] = []
    try:
        lines = path.read_bytes().splitlines()
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror})") from error
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
            pair = Pair(str(row["text_a"]), str(row["text_b"]), int(row["label"]) == 1)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise DataError(
                f"{path}:{number}: expected {{'text_a', 'text_b', 'label'}} ({error!r})"
            ) from error
        pairs.append(pair)
    if not pairs:
        raise DataError(f"{path}: no pairs")
    return pairs


def duplicate_groups(pairs: Iterable[Pair]) -> dict[str, str]:
    """Each text's group: texts linked by label-1 pairs, directly or in a chain, share one."""
    parent: dict[str, str] = {}

    def find(text: str) -> str:
        parent.setdefault(text, text)
        root = text
        while parent[root] != root:
            root = parent[root]
        while parent[text] != root:
            parent[text], text = root, parent[text]
        return root

    for pair in pairs:
        a, b = find(pair.text_a), find(pair.text_b)
        if pair.duplicate and a != b:
            parent[b] = a
    return {text: find(text) for text in list(parent)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Protocol:
    """The lookups of the protocol with their nearest entries, ready to score."""

    lookups: tuple[LabelledLookup, ...]
    positives: tuple[bool, ...]
    entries: int


def build_protocol(
    pairs: Sequence[Pair], embed: EmbedTexts, *, candidates: int, chunk: int = 2048
) -> Protocol:
    """Embed, find each query's ``candidates`` nearest entries (exact search), label them."""
    groups = duplicate_groups(pairs)
    entries = list(dict.fromkeys(p.text_a for p in pairs))
    queries = list(dict.fromkeys(p.text_b for p in pairs))
    entry_vectors = embed(entries)
    query_vectors = embed(queries)
    groups_held = {groups[text] for text in entries}
    k = min(candidates, len(entries))
    lookups: list[LabelledLookup] = []
    positives: list[bool] = []
    for start in range(0, len(queries), chunk):
        similarities = query_vectors[start : start + chunk] @ entry_vectors.T
        top = np.argpartition(-similarities, k - 1, axis=1)[:, :k]
        for row, query in enumerate(queries[start : start + chunk]):
            order = top[row][np.argsort(-similarities[row, top[row]], kind="stable")]
            group = groups[query]
            found = tuple((entries[i], float(similarities[row, i])) for i in order)
            lookups.append(
                LabelledLookup(
                    query=query,
                    candidates=found,
                    correct=tuple(groups[text] == group for text, _ in found),
                    group=group,
                )
            )
            positives.append(group in groups_held)
    return Protocol(lookups=tuple(lookups), positives=tuple(positives), entries=len(entries))


@dataclass(frozen=True, slots=True, kw_only=True)
class Evaluation:
    """The protocol's counts and rates."""

    n: int
    positives: int
    hits: int
    correct_hits: int
    false_hits: int

    @property
    def hit_rate(self) -> float:
        return self.hits / self.n if self.n else 0.0

    @property
    def precision(self) -> float:
        return self.correct_hits / self.hits if self.hits else 1.0

    @property
    def recall(self) -> float:
        return self.correct_hits / self.positives if self.positives else 0.0

    @property
    def false_hit_rate(self) -> float:
        return self.false_hits / self.n if self.n else 0.0

    def to_json(self) -> dict[str, float | int]:
        return {
            "n": self.n,
            "positives": self.positives,
            "hits": self.hits,
            "correct_hits": self.correct_hits,
            "false_hits": self.false_hits,
            "hit_rate": self.hit_rate,
            "precision": self.precision,
            "recall": self.recall,
            "false_hit_rate": self.false_hit_rate,
        }


def evaluate(protocol: Protocol, calibration: Calibration) -> Evaluation:
    """Serve each lookup as the cache would with ``calibration``, and count."""
    hits = correct_hits = 0
    for lookup in protocol.lookups:
        choice = calibration.choose(lookup.query, lookup.candidates)
        if choice is not None:
            hits += 1
            correct_hits += lookup.correct[choice.position]
    return Evaluation(
        n=len(protocol.lookups),
        positives=sum(protocol.positives),
        hits=hits,
        correct_hits=correct_hits,
        false_hits=hits - correct_hits,
    )
