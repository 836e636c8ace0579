"""Semantic cache quality on Quora Question Pairs: the false-hit bound kept, recall under it.

Protocol (the one ``slokit cache evaluate`` runs): cache every distinct ``text_a``, look up every
distinct ``text_b``; a hit is correct when it returns the query's own text or a duplicate of it
(label-1 pairs, chained); ``false_hit_rate`` = false hits / lookups, ``recall`` = correct hits /
lookups that had a correct entry. The file is split in two halves with no question in both
(connected components of all pairs); slokit calibrates on one half and is evaluated on the
other. Baselines on the same evaluation half and the same all-MiniLM-L6-v2 embeddings:

- one global cosine threshold, the lowest whose false-hit rate on the calibration half is within
  the bound (no statistical margin: what a careful user of a static threshold would do);
- per-entry learned thresholds after vCache (arXiv 2502.03771, re-implemented from the paper:
  ``slokit.cache.vcache``), run online: lookups in a random order, each served or explored by
  its nearest entry's own sigmoid, explored lookups feeding back their label to that entry;
  the shared prior is fitted on the calibration half;
- GPTCache 0.1.44 at its defaults (``init_similar_cache``: sqlite + faiss, top 5, search
  distance evaluation at similarity threshold 0.8), run in its own virtual environment given by
  ``--gptcache-python`` (python -m venv .gptcache-venv && .gptcache-venv/bin/pip install
  gptcache==0.1.44 faiss-cpu sqlalchemy); skipped, with the reason, when absent.

Embeddings are kept in ``~/.cache/slokit/`` between runs. Writes
``benchmarks/results/cache_quality.json`` and prints a table.

    .venv/bin/python benchmarks/cache_quality.py [--bounds 0.01,0.05] [--gptcache-python PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from slokit.cache import Calibration, Pair, build_protocol, calibrate, evaluate, read_pairs
from slokit.cache.evaluation import Evaluation, Protocol
from slokit.cache.vcache import PerEntryThresholds, VCacheConfig, fit_prior
from slokit.cache.verify import same_text
from slokit.embedding import DiskCachedEmbedder, MiniLMEmbedder

DATA = Path(__file__).parents[2] / "shared" / "data" / "semcache" / "qqp_dev.jsonl"
RESULTS = Path(__file__).parent / "results" / "cache_quality.json"
EMBEDDING_CACHE = Path.home() / ".cache" / "slokit" / "qqp_dev.all-MiniLM-L6-v2.npz"

GPTCACHE_RUNNER = """
import json, sys
import numpy as np
from gptcache import Cache
from gptcache.adapter.api import get, init_similar_cache

vectors = np.load(sys.argv[1])
texts = json.load(open(sys.argv[2]))
entries, queries = texts["entries"], texts["queries"]
position = {t: i for i, t in enumerate(entries + queries)}

class Given:
    dimension = vectors.shape[1]
    def to_embeddings(self, text, **_):
        return vectors[position[text]]

cache = Cache()
init_similar_cache(data_dir=sys.argv[3], cache_obj=cache, embedding=Given())
cache.import_data(questions=entries, answers=entries)
served = [get(q, cache_obj=cache) for q in queries]
json.dump(served, sys.stdout)
"""


def halves(pairs: list[Pair]) -> tuple[list[Pair], list[Pair]]:
    """Split by connected component of all pairs: no question is in both halves."""
    parent: dict[str, str] = {}

    def find(text: str) -> str:
        parent.setdefault(text, text)
        while parent[text] != text:
            parent[text] = parent[parent[text]]
            text = parent[text]
        return text

    for pair in pairs:
        a, b = find(pair.text_a), find(pair.text_b)
        if a != b:
            parent[b] = a
    first, second = [], []
    for pair in pairs:
        (first if zlib.crc32(find(pair.text_a).encode()) % 2 == 0 else second).append(pair)
    return first, second


def global_threshold(protocol: Protocol, bound: float) -> float:
    """The lowest cosine threshold on the top-1 candidate whose false-hit rate is <= bound."""
    top = [(x.candidates[0][1], not x.correct[0]) for x in protocol.lookups if x.candidates]
    top.sort(reverse=True)
    false_hits, best = 0, math.inf
    for similarity, wrong in top:
        false_hits += wrong
        if false_hits / len(protocol.lookups) <= bound:
            best = similarity
    return best


def evaluate_global(protocol: Protocol, threshold: float) -> Evaluation:
    hits = correct = 0
    for lookup in protocol.lookups:
        if lookup.candidates and lookup.candidates[0][1] >= threshold:
            hits += 1
            correct += lookup.correct[0]
    return Evaluation(
        n=len(protocol.lookups),
        positives=sum(protocol.positives),
        hits=hits,
        correct_hits=correct,
        false_hits=hits - correct,
    )


def evaluate_vcache(
    calibration: Protocol, evaluation: Protocol, bound: float, confidence: float, seed: int
) -> tuple[Evaluation, int]:
    """Online per-entry thresholds on ``evaluation``; also returns the lookups explored."""
    top = [
        (x.candidates[0][1], x.correct[0])
        for x in calibration.lookups
        if x.candidates and not same_text(x.query, x.candidates[0][0])
    ]
    prior = fit_prior([s for s, _ in top], [ok for _, ok in top])
    thresholds = PerEntryThresholds(
        VCacheConfig(max_false_hit_rate=bound, confidence=confidence), prior, random.Random(seed)
    )
    order = list(range(len(evaluation.lookups)))
    random.Random(seed).shuffle(order)
    hits = correct = explored = 0
    for position in order:
        lookup = evaluation.lookups[position]
        if not lookup.candidates:
            continue
        (text, similarity), ok = lookup.candidates[0], lookup.correct[0]
        if same_text(lookup.query, text) or thresholds.serve(text, similarity):
            hits += 1
            correct += ok
        else:
            thresholds.observe(text, similarity, correct=ok)
            explored += 1
    result = Evaluation(
        n=len(evaluation.lookups),
        positives=sum(evaluation.positives),
        hits=hits,
        correct_hits=correct,
        false_hits=hits - correct,
    )
    return result, explored


def run_gptcache(
    python: Path, pairs: list[Pair], embedder: DiskCachedEmbedder, protocol: Protocol
) -> Evaluation | str:
    if not python.exists():
        return f"no GPTCache environment at {python}"
    entries = list(dict.fromkeys(p.text_a for p in pairs))
    queries = list(dict.fromkeys(p.text_b for p in pairs))
    groups = {x.query: x.group for x in protocol.lookups}
    from slokit.cache.evaluation import duplicate_groups  # noqa: PLC0415

    group_of = duplicate_groups(pairs)
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        np.save(folder / "vectors.npy", embedder.embed(entries + queries))
        (folder / "texts.json").write_text(json.dumps({"entries": entries, "queries": queries}))
        (folder / "runner.py").write_text(GPTCACHE_RUNNER)
        done = subprocess.run(
            [str(python), str(folder / "runner.py"), str(folder / "vectors.npy"),
             str(folder / "texts.json"), str(folder / "data")],
            capture_output=True, text=True, check=False, timeout=3_600,
        )  # fmt: skip
        if done.returncode != 0:
            return f"GPTCache failed: {done.stderr.strip().splitlines()[-1:]}"
        served = json.loads(done.stdout)
    hits = sum(answer is not None for answer in served)
    correct = sum(
        answer is not None and group_of[answer] == groups[query]
        for query, answer in zip(queries, served, strict=True)
    )
    return Evaluation(
        n=len(queries),
        positives=sum(protocol.positives),
        hits=hits,
        correct_hits=correct,
        false_hits=hits - correct,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, default=DATA)
    parser.add_argument("--bounds", default="0.01,0.05")
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--gptcache-python", type=Path, default=Path(".gptcache-venv/bin/python"))
    args = parser.parse_args()

    pairs = read_pairs(args.pairs)
    calibration_pairs, evaluation_pairs = halves(pairs)
    EMBEDDING_CACHE.parent.mkdir(parents=True, exist_ok=True)
    embedder = DiskCachedEmbedder(MiniLMEmbedder(), EMBEDDING_CACHE)
    start = time.perf_counter()
    calibration_protocol = build_protocol(calibration_pairs, embedder.embed, candidates=4)
    evaluation_protocol = build_protocol(evaluation_pairs, embedder.embed, candidates=4)
    embedder.save()
    print(f"embedded and searched in {time.perf_counter() - start:.0f} s")

    rows: list[dict[str, Any]] = []

    def add(method: str, bound: float | None, result: Evaluation, **extra: Any) -> None:
        met = None if bound is None else result.false_hit_rate <= bound
        rows.append({"method": method, "bound": bound, **result.to_json(), "met": met, **extra})

    calibrations: dict[str, Any] = {}
    for bound in (float(b) for b in args.bounds.split(",")):
        calibration: Calibration = calibrate(
            calibration_protocol.lookups,
            max_false_hit_rate=bound,
            confidence=args.confidence,
            embedder=embedder.name,
        )
        calibrations[str(bound)] = calibration.to_json()
        add("slokit (calibrated, verified)", bound, evaluate(evaluation_protocol, calibration))
        for seed in range(3):
            online, explored = evaluate_vcache(
                calibration_protocol, evaluation_protocol, bound, args.confidence, seed
            )
            add(f"vCache per-entry (seed {seed})", bound, online, explored=explored)
        threshold = global_threshold(calibration_protocol, bound)
        add(
            "global cosine threshold",
            bound,
            evaluate_global(evaluation_protocol, threshold),
            threshold=threshold,
        )
    gptcache = run_gptcache(args.gptcache_python, evaluation_pairs, embedder, evaluation_protocol)
    if isinstance(gptcache, str):
        rows.append({"method": "GPTCache 0.1.44 defaults", "skipped": gptcache})
    else:
        add("GPTCache 0.1.44 defaults", None, gptcache)

    header = (
        f"{'method':<30} {'bound':>6} {'hit rate':>9} {'precision':>9} {'recall':>7} "
        f"{'false-hit':>9}  met"
    )
    print(
        f"\nQQP: calibrate on {len(calibration_pairs):,} pairs, evaluate on "
        f"{len(evaluation_pairs):,} ({evaluation_protocol.entries:,} entries, "
        f"{len(evaluation_protocol.lookups):,} lookups)"
    )
    print(header)
    for row in rows:
        if "skipped" in row:
            print(f"{row['method']:<30} skipped: {row['skipped']}")
            continue
        bound = "-" if row["bound"] is None else f"{row['bound']:.0%}"
        met = "-" if row["met"] is None else ("yes" if row["met"] else "NO")
        print(
            f"{row['method']:<30} {bound:>6} {row['hit_rate']:>9.3f} {row['precision']:>9.3f} "
            f"{row['recall']:>7.3f} {row['false_hit_rate']:>9.4f}  {met}"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "cache_quality",
                "data": str(args.pairs.name),
                "embedder": embedder.name,
                "confidence": args.confidence,
                "calibration_pairs": len(calibration_pairs),
                "evaluation_pairs": len(evaluation_pairs),
                "rows": rows,
                "calibrations": calibrations,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
