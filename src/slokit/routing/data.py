"""Labelled routing examples: prompts and which models answered each correctly."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
from numpy.typing import NDArray

from slokit.errors import DataError

WEAK = "weak"
STRONG = "strong"


@dataclass(frozen=True, slots=True)
class LabelledSet:
    """``correct[i, m]`` says whether model ``models[m]`` answered ``prompts[i]`` correctly.

    ``subjects``, when the data labels them, names each prompt's subject (MMLU's 57): a
    training-time label only, since routing sees the prompt alone.
    """

    prompts: tuple[str, ...]
    models: tuple[str, ...]
    correct: NDArray[np.bool_]
    subjects: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.correct.shape != (len(self.prompts), len(self.models)):
            raise DataError(
                f"correctness must be {len(self.prompts)} prompts x {len(self.models)} models, "
                f"got shape {self.correct.shape}"
            )
        if self.subjects is not None and len(self.subjects) != len(self.prompts):
            raise DataError(f"{len(self.prompts)} prompts but {len(self.subjects)} subjects")

    def __len__(self) -> int:
        return len(self.prompts)

    def column(self, model: str) -> NDArray[np.bool_]:
        """Whether ``model`` was right on each prompt."""
        if model not in self.models:
            raise DataError(f"no labels for model {model!r}; the data has {list(self.models)}")
        return self.correct[:, self.models.index(model)]

    def take(self, rows: NDArray[np.intp]) -> LabelledSet:
        """The examples at ``rows``, in that order."""
        picked = rows.tolist()
        subjects = None if self.subjects is None else tuple(self.subjects[i] for i in picked)
        return LabelledSet(
            tuple(self.prompts[i] for i in picked), self.models, self.correct[rows], subjects
        )

    def split(self, holdout: float, seed: int) -> tuple[LabelledSet, LabelledSet]:
        """A seeded random (kept, held-out) split with ``round(holdout * n)`` rows held out."""
        if not 0.0 < holdout < 1.0:
            raise ValueError(f"holdout must be a share in (0, 1), got {holdout}")
        order = np.random.default_rng(seed).permutation(len(self))
        held = round(holdout * len(self))
        if held == 0 or held == len(self):
            raise DataError(f"{len(self)} examples are too few to hold out {holdout:.0%}")
        return self.take(np.sort(order[held:])), self.take(np.sort(order[:held]))


def load_labelled(path: Path) -> LabelledSet:
    """Read JSON Lines of ``{"prompt", "weak_correct", "strong_correct"}``.

    Rows may instead carry ``"correct": {"<model>": bool, ...}`` for more than two models;
    every row must then name the same models. An optional string ``"subject"`` is kept when
    every row has one (the ``subject`` light model learns from it).
    """
    try:
        lines = path.read_bytes().splitlines()
    except OSError as error:
        raise DataError(f"{path}: cannot read routing data: {error.strerror}") from error
    prompts: list[str] = []
    labels: list[tuple[bool, ...]] = []
    subjects: list[str] = []
    models: tuple[str, ...] | None = None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            raise DataError(f"{where}: not JSON: {error}") from error
        prompt, row_models, row_labels = _parse_row(row, where)
        if models is None:
            models = row_models
        elif row_models != models:
            raise DataError(f"{where}: labels for {list(row_models)}, earlier rows {list(models)}")
        prompts.append(prompt)
        labels.append(row_labels)
        if isinstance(row.get("subject"), str):
            subjects.append(row["subject"])
    if models is None:
        raise DataError(f"{path}: no examples")
    return LabelledSet(
        tuple(prompts),
        models,
        np.array(labels, dtype=np.bool_),
        tuple(subjects) if len(subjects) == len(prompts) else None,
    )


def _parse_row(row: object, where: str) -> tuple[str, tuple[str, ...], tuple[bool, ...]]:
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object")
    prompt = row.get("prompt")
    if not isinstance(prompt, str):
        raise DataError(f"{where}: 'prompt' must be a string")
    if "correct" in row:
        correct = row["correct"]
        if not isinstance(correct, dict) or len(correct) < 2:
            raise DataError(f"{where}: 'correct' must map two or more model names to booleans")
        pairs = sorted(correct.items())
    else:
        pairs = [(WEAK, row.get("weak_correct")), (STRONG, row.get("strong_correct"))]
    for model, value in pairs:
        if not isinstance(value, bool):
            key = f"correct.{model}" if "correct" in row else f"{model}_correct"
            raise DataError(f"{where}: '{key}' must be true or false")
    return prompt, tuple(str(model) for model, _ in pairs), tuple(bool(v) for _, v in pairs)
