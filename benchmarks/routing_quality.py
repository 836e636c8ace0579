"""Difficulty routing on MMLU (Mixtral-8x7B vs GPT-4): APGR and CPT on held-out questions.

Split: of the 7,021 questions in ``shared/data/routing/mmlu_dev.jsonl``, a seeded random 30%
(seed 0, 2,106 questions) is held out; every light model is fitted on the other 70% and
measured only on the held-out questions. Beside the light models over MiniLM embeddings:
hashed words (no model), the prompt's length, and the MMLU subject label taken from the data
(a feature a router would not have in production: how much subject alone explains). The
``subject`` light model learns from the training rows' subject labels but routes from the
prompt alone. Random and oracle baselines are exact (ties averaged).

The subject model's mix was chosen by 5-fold cross-validation inside the 70% (printed as
"cross-validation"); the held-out rows choose nothing. The logistic and subject models are
then refitted on other seeds of the same split (``--seeds``) to show the spread over splits.
The same light models also run over MiniLM's static distillation (model2vec, see
slokit.embedding.static): the embedder whose latency fits a request path. Last, the latency of
one routing decision (batch 1, embedding included) and of the light model alone on this CPU.
Writes ``benchmarks/results/routing_quality.json``.

MiniLM embeddings are cached in ``--embedding-cache`` (default under the system temp folder)
so that reruns skip the minutes of embedding on a busy two-core machine.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/routing_quality.py [--holdout 0.3] [--seed 0]
        [--seeds 0,1,2,3,4] [--latency 200] [--embedding-cache FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from slokit.embedding import (
    DiskCachedEmbedder,
    HashingEmbedder,
    MiniLMEmbedder,
    StaticMiniLMEmbedder,
)
from slokit.routing import (
    STRONG,
    WEAK,
    DifficultyRouter,
    FeatureSpec,
    KNNConfig,
    LabelledSet,
    LogisticConfig,
    ModelPrice,
    RouterSpec,
    RoutingQuality,
    StrongShare,
    load_labelled,
    oracle_scores,
    random_scores,
    routing_quality,
)
from slokit.routing.factorisation import FactorisationConfig, FactorisationModel
from slokit.routing.features import featurise
from slokit.routing.knn import KNNModel
from slokit.routing.logistic import LogisticModel
from slokit.routing.predictor import CorrectnessModel, Features, Labels
from slokit.routing.subject import SubjectConfig, SubjectModel

DATA = Path(__file__).parents[2] / "shared" / "data" / "routing" / "mmlu_dev.jsonl"
RESULTS = Path(__file__).parent / "results" / "routing_quality.json"
CACHE = Path(tempfile.gettempdir()) / "slokit-routing-mmlu-minilm.npz"

Subjects = tuple[str, ...]
Fitter = Callable[[Features, Labels, Subjects], CorrectnessModel]
LIGHT: dict[str, Fitter] = {
    "knn k=50": lambda x, y, _: KNNModel(x, y, KNNConfig(neighbours=50)),
    "knn k=200": lambda x, y, _: KNNModel(x, y, KNNConfig(neighbours=200)),
    "logistic": lambda x, y, _: LogisticModel.fit(x, y, LogisticConfig(l2=1e-3)),
    "mf rank 16": lambda x, y, _: FactorisationModel.fit(
        x, y, FactorisationConfig(rank=16, max_iterations=300)
    ),
    "subject": lambda x, y, s: SubjectModel.fit(x, y, s, SubjectConfig()),
}
MIXES = (0.0, 0.15, 0.3, 0.5, 0.7, 1.0)


def gain_score(probabilities: NDArray[np.float64]) -> NDArray[np.float64]:
    # Columns are in the data's order: weak, strong.
    return probabilities[:, 1] - probabilities[:, 0]


def row(name: str, quality: RoutingQuality, seconds: float | None = None) -> dict[str, Any]:
    return {
        "router": name,
        "apgr": quality.apgr,
        "cpt50": quality.cpt50,
        "cpt80": quality.cpt80,
        "fit_s": seconds,
    }


def light_rows(
    label: str,
    features: Features,
    train: NDArray[np.intp],
    test: NDArray[np.intp],
    data: LabelledSet,
    *,
    subjects: Subjects,
) -> tuple[list[dict[str, Any]], dict[str, CorrectnessModel]]:
    rows, models = [], {}
    weak, strong = data.column(WEAK)[test], data.column(STRONG)[test]
    train_subjects = tuple(subjects[i] for i in train)
    for name, fit in LIGHT.items():
        start = time.perf_counter()
        model = fit(features[train], data.correct[train], train_subjects)
        seconds = time.perf_counter() - start
        quality = routing_quality(gain_score(model.predict(features[test])), weak, strong)
        rows.append(row(f"{label} + {name}", quality, seconds))
        models[name] = model
        print(f"  {label} + {name}: APGR {quality.apgr:.3f} ({seconds:.1f} s to fit)", flush=True)
    return rows, models


def cross_validate_mix(
    features: Features, train: NDArray[np.intp], data: LabelledSet, subjects: Subjects
) -> list[dict[str, float]]:
    """Mean APGR and CPT(50%) of each mix over 5 folds of the training rows only."""
    folds = np.array_split(np.random.default_rng(1).permutation(train), 5)
    scores: dict[float, list[tuple[float, float]]] = {mix: [] for mix in MIXES}
    for k, check in enumerate(folds):
        fit_rows = np.sort(np.concatenate([f for j, f in enumerate(folds) if j != k]))
        model = SubjectModel.fit(
            features[fit_rows],
            data.correct[fit_rows],
            tuple(subjects[i] for i in fit_rows),
            SubjectConfig(),
        )
        logistic, prior = model.parts(features[check])
        weak, strong = data.column(WEAK)[check], data.column(STRONG)[check]
        for mix in MIXES:
            quality = routing_quality(gain_score(mix * logistic + (1 - mix) * prior), weak, strong)
            scores[mix].append((quality.apgr, quality.cpt50))
    return [
        {
            "mix": mix,
            "apgr": float(np.mean([a for a, _ in s])),
            "cpt50": float(np.mean([c for _, c in s])),
        }
        for mix, s in scores.items()
    ]


def cross_validate_light(
    features: Features, train: NDArray[np.intp], data: LabelledSet, subjects: Subjects
) -> dict[str, float]:
    """Mean APGR of each light model over 5 folds of the training rows only."""
    folds = np.array_split(np.random.default_rng(1).permutation(train), 5)
    scores: dict[str, list[float]] = {name: [] for name in LIGHT}
    for k, check in enumerate(folds):
        fit_rows = np.sort(np.concatenate([f for j, f in enumerate(folds) if j != k]))
        weak, strong = data.column(WEAK)[check], data.column(STRONG)[check]
        fit_subjects = tuple(subjects[i] for i in fit_rows)
        for name, fit in LIGHT.items():
            model = fit(features[fit_rows], data.correct[fit_rows], fit_subjects)
            quality = routing_quality(gain_score(model.predict(features[check])), weak, strong)
            scores[name].append(quality.apgr)
    return {name: float(np.mean(values)) for name, values in scores.items()}


def seed_spread(
    features: Features, data: LabelledSet, subjects: Subjects, holdout: float, seeds: list[int]
) -> dict[str, dict[str, Any]]:
    """Held-out APGR and CPT(50%) of logistic and subject over several split seeds."""
    figures: dict[str, list[tuple[float, float]]] = {"logistic": [], "subject": []}
    for seed in seeds:
        order = np.random.default_rng(seed).permutation(len(data))
        held = round(holdout * len(data))
        test, train = np.sort(order[:held]), np.sort(order[held:])
        weak, strong = data.column(WEAK)[test], data.column(STRONG)[test]
        for name, per_seed in figures.items():
            model = LIGHT[name](
                features[train], data.correct[train], tuple(subjects[i] for i in train)
            )
            quality = routing_quality(gain_score(model.predict(features[test])), weak, strong)
            per_seed.append((quality.apgr, quality.cpt50))
        print(f"  seed {seed}: " + ", ".join(f"{n} {f[-1][0]:.3f}" for n, f in figures.items()))
    summary: dict[str, dict[str, Any]] = {}
    for name, per_seed in figures.items():
        apgrs, cpts = np.array([a for a, _ in per_seed]), np.array([c for _, c in per_seed])
        summary[name] = {
            "seeds": seeds,
            "apgr": apgrs.tolist(),
            "cpt50": cpts.tolist(),
            "apgr_mean": float(apgrs.mean()),
            "apgr_min": float(apgrs.min()),
            "cpt50_mean": float(cpts.mean()),
            "cpt50_max": float(cpts.max()),
        }
    return summary


def latency_ms(router: DifficultyRouter, prompts: list[str]) -> dict[str, float]:
    router.route(prompts[0])  # warm-up: first call pays lazy initialisation
    times = []
    for prompt in prompts:
        start = time.perf_counter()
        router.route(prompt)
        times.append(time.perf_counter() - start)
    p50, p99 = np.percentile(np.array(times) * 1e3, [50, 99])
    return {"p50_ms": float(p50), "p99_ms": float(p99), "requests": len(prompts)}


def light_model_ms(model: CorrectnessModel, features: Features) -> dict[str, float]:
    """The light model alone on one query's features (embedding excluded)."""
    model.predict(features[:1])
    times = []
    for i in range(len(features)):
        start = time.perf_counter()
        model.predict(features[i : i + 1])
        times.append(time.perf_counter() - start)
    p50, p99 = np.percentile(np.array(times) * 1e3, [50, 99])
    return {"p50_ms": float(p50), "p99_ms": float(p99), "requests": len(features)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--holdout", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--seeds", default="0,1,2,3,4", help="split seeds for the spread of logistic and subject"
    )
    parser.add_argument("--latency", type=int, default=200, help="requests timed at batch 1")
    parser.add_argument("--embedding-cache", type=Path, default=CACHE)
    args = parser.parse_args()

    data = load_labelled(args.data)
    if data.subjects is None:
        parser.error(f"{args.data} has no 'subject' in every row")
    labels = data.subjects
    subject = np.array(labels)
    order = np.random.default_rng(args.seed).permutation(len(data))
    held = round(args.holdout * len(data))
    test, train = np.sort(order[:held]), np.sort(order[held:])
    weak, strong = data.column(WEAK)[test], data.column(STRONG)[test]
    print(f"{len(train)} training, {len(test)} held-out questions", flush=True)

    rows = [
        row("random", routing_quality(random_scores(len(test)), weak, strong)),
        row("oracle", routing_quality(oracle_scores(weak, strong), weak, strong)),
    ]
    gain = data.correct[:, 1].astype(float) - data.correct[:, 0]
    by_subject = {s: gain[train][subject[train] == s].mean() for s in set(subject[train])}
    subject_scores = np.array([by_subject.get(s, 0.0) for s in subject[test]])
    rows.append(
        row(
            "subject label (from the data) mean gain", routing_quality(subject_scores, weak, strong)
        )
    )
    lengths = np.array([len(p) for p in data.prompts], dtype=float)
    rows.append(
        row("prompt length (longer = harder)", routing_quality(lengths[test], weak, strong))
    )

    minilm = DiskCachedEmbedder(MiniLMEmbedder(), args.embedding_cache)
    start = time.perf_counter()
    embedded = featurise(minilm, data.prompts, FeatureSpec(), progress=True)
    embed_s = time.perf_counter() - start
    minilm.save()
    print(f"MiniLM embeddings: {embed_s:.1f} s (cached in {args.embedding_cache})", flush=True)
    hashing = HashingEmbedder(dimensions=1024)
    hashed = featurise(hashing, data.prompts, FeatureSpec())
    with_length = featurise(minilm, data.prompts, FeatureSpec(length=True))

    print("cross-validation of the subject model's mix, 5 folds of the training rows:")
    cross_validation = cross_validate_mix(embedded, train, data, labels)
    for cv_row in cross_validation:
        print(f"  mix {cv_row['mix']:.2f}: APGR {cv_row['apgr']:.3f}, CPT50 {cv_row['cpt50']:.1%}")
    minilm_rows, minilm_models = light_rows("MiniLM", embedded, train, test, data, subjects=labels)
    rows += minilm_rows
    extra, _ = light_rows("MiniLM+length", with_length, train, test, data, subjects=labels)
    rows += [r for r in extra if "logistic" in r["router"] or "subject" in r["router"]]
    hashed_rows, hashed_models = light_rows(
        "hashed words", hashed, train, test, data, subjects=labels
    )
    rows += hashed_rows
    static = StaticMiniLMEmbedder()
    static_features = featurise(static, data.prompts, FeatureSpec())
    static_rows, static_models = light_rows(
        "MiniLM-static", static_features, train, test, data, subjects=labels
    )
    rows += static_rows
    print("cross-validation of each light model, 5 folds of the training rows:")
    light_cv = {
        "MiniLM": cross_validate_light(embedded, train, data, labels),
        "MiniLM-static": cross_validate_light(static_features, train, data, labels),
    }
    for embedding, figures in light_cv.items():
        print(f"  {embedding}: " + ", ".join(f"{n} {a:.3f}" for n, a in figures.items()))
    seeds = [int(seed) for seed in args.seeds.split(",") if seed.strip()]
    print(f"held-out APGR over split seeds {seeds}:")
    spread = seed_spread(embedded, data, labels, args.holdout, seeds)

    best = max((r for r in minilm_rows), key=lambda r: r["apgr"])
    best_light = best["router"].removeprefix("MiniLM + ")
    spec = RouterSpec(
        models=(ModelPrice(name=WEAK, price=1.0), ModelPrice(name=STRONG, price=2.0)),
        features=FeatureSpec(),
        tradeoff=0.05,
        target=StrongShare(share=0.5),
    )
    sample = [data.prompts[i] for i in test[: args.latency]]
    latency = {
        f"MiniLM + {name}": latency_ms(
            DifficultyRouter(MiniLMEmbedder(), minilm_models[name], spec), sample
        )
        for name in ("knn k=50", "logistic", "subject")
    }
    latency["hashed words + logistic"] = latency_ms(
        DifficultyRouter(hashing, hashed_models["logistic"], spec), sample
    )
    for name in ("logistic", "subject"):
        latency[f"MiniLM-static + {name}"] = latency_ms(
            DifficultyRouter(static, static_models[name], spec), sample
        )
    light_latency = {
        name: light_model_ms(minilm_models[name], embedded[test[: args.latency]])
        for name in ("knn k=50", "logistic", "subject")
    }

    result = {
        "benchmark": "routing_quality",
        "data": str(args.data.name),
        "split": {
            "holdout": args.holdout,
            "seed": args.seed,
            "train": len(train),
            "test": len(test),
        },
        "weak_accuracy_test": float(weak.mean()),
        "strong_accuracy_test": float(strong.mean()),
        "targets": {"apgr_min": 0.70, "cpt50_max": 0.30, "latency_p99_ms_max": 5.0},
        "best_minilm_light_model": best_light,
        "quality": rows,
        "subject_mix_cross_validation": cross_validation,
        "light_model_cross_validation": light_cv,
        "seed_spread": spread,
        "embedding_s_all_prompts": embed_s,
        "latency_batch1": latency,
        "light_model_latency_batch1": light_latency,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load": os.getloadavg(),
        },
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\nheld-out {len(test)} questions; weak {weak.mean():.3f}, strong {strong.mean():.3f}")
    print(f"{'router':<44} {'APGR':>6} {'CPT50':>7} {'CPT80':>7}")
    for r in rows:
        print(f"{r['router']:<44} {r['apgr']:>6.3f} {r['cpt50']:>6.1%} {r['cpt80']:>6.1%}")
    print(f"\nrouting latency, batch 1, {len(sample)} requests (embedding included):")
    for name, figures in latency.items():
        print(f"  {name:<30} p50 {figures['p50_ms']:8.2f} ms   p99 {figures['p99_ms']:8.2f} ms")
    print("light model alone, batch 1 (embedding excluded):")
    for name, figures in light_latency.items():
        print(f"  {name:<30} p50 {figures['p50_ms']:8.3f} ms   p99 {figures['p99_ms']:8.3f} ms")
    print(f"\nheld-out over split seeds {seeds}:")
    for name, figures in spread.items():
        print(
            f"  MiniLM + {name:<21} APGR mean {figures['apgr_mean']:.3f} min "
            f"{figures['apgr_min']:.3f}   CPT50 mean {figures['cpt50_mean']:.1%} max "
            f"{figures['cpt50_max']:.1%}"
        )
    print(
        f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; wrote {RESULTS}"
    )


if __name__ == "__main__":
    main()
