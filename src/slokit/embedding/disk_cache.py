"""An embedder wrapper that remembers vectors on disk, keyed by text, across runs."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from slokit.embedding.base import Embedder, Vectors
from slokit.errors import DataError


class DiskCachedEmbedder:
    """Embeds only texts it has not seen; :meth:`save` writes the cache as one ``.npz`` file.

    Keys are SHA-256 digests of the text, so the file holds no prompt text. The file records
    the embedder's name and is refused for another embedder.
    """

    def __init__(self, inner: Embedder, path: Path) -> None:
        self._inner = inner
        self._path = path
        self._vectors: dict[bytes, Vectors] = {}
        self._dirty = False
        if path.exists():
            self._read()

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def dimensions(self) -> int:
        return self._inner.dimensions

    def __len__(self) -> int:
        return len(self._vectors)

    def embed(self, texts: Sequence[str]) -> Vectors:
        keys = [hashlib.sha256(text.encode()).digest() for text in texts]
        first_of: dict[bytes, int] = {}
        for i, key in enumerate(keys):
            if key not in self._vectors:
                first_of.setdefault(key, i)
        missing = sorted(first_of.values())
        if missing:
            fresh = self._inner.embed([texts[i] for i in missing])
            for i, vector in zip(missing, fresh, strict=True):
                self._vectors[keys[i]] = vector
            self._dirty = True
        if not keys:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return np.stack([self._vectors[key] for key in keys]).astype(np.float32)

    def save(self) -> None:
        """Write the cache if it gained vectors since it was read."""
        if not self._dirty:
            return
        keys = np.array(list(self._vectors), dtype="S32")
        vectors = np.stack(list(self._vectors.values())).astype(np.float32)
        with self._path.open("wb") as file:
            np.savez(file, name=np.array(self.name), keys=keys, vectors=vectors)
        self._dirty = False

    def _read(self) -> None:
        try:
            with np.load(self._path, allow_pickle=False) as data:
                name = str(data["name"])
                keys, vectors = data["keys"], data["vectors"]
        except (OSError, ValueError, KeyError) as error:
            raise DataError(f"{self._path}: not an embedding cache: {error}") from error
        if name != self._inner.name:
            raise DataError(
                f"{self._path}: embedding cache of {name!r}, not of {self._inner.name!r}; "
                "use another file"
            )
        self._vectors = {bytes(key): vector for key, vector in zip(keys, vectors, strict=True)}
