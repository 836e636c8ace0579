"""Saving and loading a difficulty router as one JSON file (arrays as base64, little-endian).

The file holds everything routing needs except the embedder's weights, which it names: the
light model's arrays (a kNN router keeps its training embeddings, so nothing is re-embedded),
the models and prices, the calibrated trade-off and the target it meets.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson
from numpy.typing import NDArray

from slokit.embedding import Embedder, embedder_named
from slokit.errors import DataError
from slokit.routing import factorisation, knn, logistic, subject
from slokit.routing.features import FeatureSpec
from slokit.routing.policy import CostBudget, ModelPrice, StrongShare, Target
from slokit.routing.predictor import CorrectnessModel, State
from slokit.routing.router import DifficultyRouter, RouterSpec

FORMAT = "slokit-router"
VERSION = 1

_LOADERS: dict[str, Callable[[State], CorrectnessModel]] = {
    knn.KIND: knn.KNNModel.from_state,
    logistic.KIND: logistic.LogisticModel.from_state,
    factorisation.KIND: factorisation.FactorisationModel.from_state,
    subject.KIND: subject.SubjectModel.from_state,
}


def save_router(
    router: DifficultyRouter, path: Path, extra: dict[str, object] | None = None
) -> None:
    """Write ``router`` to ``path``; ``extra`` (e.g. the training report) is kept alongside."""
    spec = router.spec
    document: dict[str, object] = {
        "format": FORMAT,
        "version": VERSION,
        "embedder": router.embedder.name,
        "features": {"length": spec.features.length},
        "models": [{"name": model.name, "price": model.price} for model in spec.models],
        "tradeoff": spec.tradeoff,
        "target": _target_json(spec.target),
        "light_model": {"kind": router.model.kind, "state": _state_json(router.model.state())},
    }
    if extra:
        document["training"] = extra
    path.write_bytes(orjson.dumps(document))


def load_router(path: Path, embedder: Embedder | None = None) -> DifficultyRouter:
    """Read a router; ``embedder`` overrides the one the file names (it must match its name)."""
    try:
        document = orjson.loads(path.read_bytes())
    except OSError as error:
        raise DataError(f"{path}: cannot read router: {error.strerror}") from error
    except orjson.JSONDecodeError as error:
        raise DataError(f"{path}: not a router file (not JSON): {error}") from error
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise DataError(f"{path}: not a router file (no 'format': '{FORMAT}')")
    if document.get("version") != VERSION:
        raise DataError(f"{path}: router file version {document.get('version')!r}, need {VERSION}")
    try:
        name = str(document["embedder"])
        if embedder is None:
            embedder = embedder_named(name)
        elif embedder.name != name:
            raise DataError(f"{path}: router trained on embedder {name!r}, given {embedder.name!r}")
        light = document["light_model"]
        loader = _LOADERS[light["kind"]]
        model = loader(_state_from_json(light["state"]))
        spec = RouterSpec(
            models=tuple(
                ModelPrice(name=str(item["name"]), price=float(item["price"]))
                for item in document["models"]
            ),
            features=FeatureSpec(length=bool(document["features"]["length"])),
            tradeoff=float(document["tradeoff"]),
            target=_target_from_json(document["target"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise DataError(f"{path}: malformed router file: {error!r}") from error
    return DifficultyRouter(embedder, model, spec)


def _target_json(target: Target) -> dict[str, float]:
    if isinstance(target, StrongShare):
        return {"strong_share": target.share}
    return {"mean_price": target.mean_price}


def _target_from_json(data: dict[str, float]) -> Target:
    if "strong_share" in data:
        return StrongShare(share=float(data["strong_share"]))
    return CostBudget(mean_price=float(data["mean_price"]))


def _state_json(state: State) -> dict[str, object]:
    encoded: dict[str, object] = {}
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            array = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<"))
            encoded[key] = {
                "dtype": array.dtype.str,
                "shape": list(array.shape),
                "base64": base64.b64encode(array.tobytes()).decode("ascii"),
            }
        else:
            encoded[key] = value
    return encoded


def _state_from_json(data: dict[str, object]) -> State:
    state: State = {}
    for key, value in data.items():
        if isinstance(value, dict):
            raw = base64.b64decode(str(value["base64"]))
            array: NDArray[np.generic] = np.frombuffer(raw, dtype=np.dtype(str(value["dtype"])))
            state[key] = array.reshape([int(size) for size in value["shape"]])
        elif isinstance(value, int | float | str):
            state[key] = value
        else:
            raise TypeError(f"unexpected value for {key!r} in the light model's state")
    return state
