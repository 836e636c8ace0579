"""``slokit route``: train a difficulty router on labelled prompts, evaluate it, route prompts.

Parsing and printing only; the router, its training and RouteLLM's metrics live in
:mod:`slokit.routing`. Exit codes: 0 success, 1 bad data or a failed run, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from slokit.cli.options import count, fraction, positive, show_percent, table
from slokit.embedding import (
    MINILM_NAME,
    DiskCachedEmbedder,
    Embedder,
    HashingEmbedder,
    MiniLMEmbedder,
    StaticMiniLMEmbedder,
)
from slokit.errors import ConfigError, DataError
from slokit.routing import (
    LIGHT_MODELS,
    CostBudget,
    DifficultyRouter,
    FeatureSpec,
    LabelledSet,
    RoutingQuality,
    StrongShare,
    Target,
    TrainConfig,
    choose,
    load_labelled,
    load_router,
    oracle_scores,
    random_scores,
    routing_quality,
    save_router,
    train_router,
)

NAME = "route"
HELP = "Train a difficulty router (cheap vs strong model), evaluate it (APGR, CPT), route prompts."

_EXIT_OK = 0
_EMBEDDERS = ("minilm", "minilm-static", "hashing")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Sub-commands ``train``, ``evaluate`` and ``pick``."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    train = actions.add_parser(
        "train",
        help="train a router on JSON Lines of prompt, weak_correct, strong_correct",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _data_option(train)
    train.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="router file to write (JSON)"
    )
    train.add_argument(
        "--embedder",
        choices=_EMBEDDERS,
        default="minilm",
        help=f"'minilm': bundled {MINILM_NAME} (needs the 'embed' extra); 'minilm-static': "
        "its static distillation (model2vec, ~0.2 ms per prompt instead of ~35 ms, some quality "
        "lost); 'hashing': hashed words, no model, for quick trials",
    )
    train.add_argument(
        "--light-models",
        default=",".join(LIGHT_MODELS),
        metavar="LIST",
        help="comma-separated light models to compare; the best on validation APGR is kept",
    )
    train.add_argument(
        "--strong-share",
        metavar="SHARE",
        default=argparse.SUPPRESS,
        help="calibrate the threshold so at most this share of queries goes to the priciest "
        "model (default 0.5)",
    )
    train.add_argument(
        "--budget",
        metavar="PRICE",
        default=argparse.SUPPRESS,
        help="calibrate the threshold so the mean price per query stays at or below this, in "
        "the unit of --price",
    )
    train.add_argument(
        "--price",
        action="append",
        metavar="MODEL=PRICE",
        default=argparse.SUPPRESS,
        help="price of one model per query in any one unit (repeat per model; models are "
        "'weak' and 'strong' for weak_correct/strong_correct data); default 1, 2, ...",
    )
    train.add_argument(
        "--length-feature",
        action="store_true",
        help="add the prompt's log length to the embedding",
    )
    train.add_argument(
        "--validation",
        default="0.2",
        metavar="SHARE",
        help="share of the examples held out to calibrate the chosen light model's threshold",
    )
    train.add_argument(
        "--folds",
        default="5",
        metavar="K",
        help="cross-validation folds that pick the light model (1: pick on the validation share)",
    )
    train.add_argument("--seed", default="0", metavar="N", help="seed of the validation split")
    _quiet_option(train)
    evaluate = actions.add_parser(
        "evaluate",
        help="APGR and CPT of a router on labelled prompts, beside random and oracle",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _data_option(evaluate)
    _router_option(evaluate)
    evaluate.add_argument(
        "--json", action="store_true", help="print one JSON object instead of a table"
    )
    _quiet_option(evaluate)
    pick = actions.add_parser("pick", help="the model the router picks for each prompt")
    _router_option(pick)
    pick.add_argument("prompts", nargs="+", metavar="PROMPT", help="prompts to route")


def run(args: argparse.Namespace) -> int:
    """Do what the action asks and print the result."""
    if args.action == "train":
        return _train(args)
    if args.action == "evaluate":
        return _evaluate(args)
    return _pick(args)


def _data_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        required=True,
        metavar="FILE",
        help="JSON Lines of {prompt, weak_correct, strong_correct} (or prompt and "
        "correct: {model: bool})",
    )


def _router_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--router", required=True, metavar="FILE", help="router file from 'slokit route train'"
    )


def _quiet_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    parser.add_argument(
        "--embedding-cache",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="keep prompt embeddings in this .npz file and reuse them on later runs",
    )


def _train(args: argparse.Namespace) -> int:
    config = TrainConfig(
        target=_target(args),
        prices=_prices(getattr(args, "price", [])),
        candidates=tuple(name.strip() for name in args.light_models.split(",") if name.strip()),
        features=FeatureSpec(length=args.length_feature),
        validation=fraction(args.validation, "--validation"),
        folds=count(args.folds, "--folds"),
        seed=_seed(args.seed),
    )
    examples = load_labelled(Path(args.data))
    embedder = _cached(args, _embedder(args.embedder))
    trained = train_router(examples, embedder, config, progress=not args.quiet)
    if isinstance(embedder, DiskCachedEmbedder):
        embedder.save()
    report = {
        "examples": len(examples),
        "light_model": trained.chosen,
        "validation": {kind: _quality_json(q) for kind, q in trained.validation.items()},
    }
    save_router(trained.router, Path(args.output), extra=report)
    rows = [
        ("examples", str(len(examples))),
        ("embedder", embedder.name),
        ("light model", f"{trained.chosen} (best validation APGR)"),
    ]
    rows += [
        (f"validation {kind}", f"APGR {q.apgr:.3f}, CPT(50%) {show_percent(q.cpt50)}")
        for kind, q in trained.validation.items()
    ]
    rows += [
        (
            "threshold",
            f"tradeoff {trained.router.spec.tradeoff:.4g} ({_target_text(config.target)})",
        ),
        ("router file", args.output),
    ]
    print(table(rows))
    return _EXIT_OK


def _evaluate(args: argparse.Namespace) -> int:
    router = load_router(Path(args.router))
    examples = load_labelled(Path(args.data))
    weak, strong = _weak_strong(router, examples)
    embedder = _cached(args, router.embedder)
    router = DifficultyRouter(embedder, router.model, router.spec)
    probabilities = router.probabilities(examples.prompts, progress=not args.quiet)
    if isinstance(embedder, DiskCachedEmbedder):
        embedder.save()
    scores = router.scores_from(probabilities)
    weak_right, strong_right = examples.column(weak), examples.column(strong)
    quality = routing_quality(scores, weak_right, strong_right)
    random = routing_quality(random_scores(len(examples)), weak_right, strong_right)
    oracle = routing_quality(oracle_scores(weak_right, strong_right), weak_right, strong_right)
    prices = np.array([model.price for model in router.spec.models])
    chosen = choose(probabilities, prices, router.spec.tradeoff)
    names = [model.name for model in router.spec.models]
    labels = np.stack([examples.column(name) for name in names], axis=1)
    at_threshold = {
        "strong_share": float(np.mean(chosen == int(np.argmax(prices)))),
        "accuracy": float(np.mean(labels[np.arange(len(examples)), chosen])),
        "mean_price": float(np.mean(prices[chosen])),
    }
    report: dict[str, object] = {
        "n": quality.n,
        **_quality_json(quality),
        "weak_accuracy": quality.weak_accuracy,
        "strong_accuracy": quality.strong_accuracy,
        "random": _quality_json(random),
        "oracle": _quality_json(oracle),
        "light_model": router.model.kind,
        "embedder": router.embedder.name,
        "at_threshold": at_threshold,
    }
    if args.json:
        print(json.dumps(report, allow_nan=False))
        return _EXIT_OK
    rows = [
        ("prompts", str(quality.n)),
        ("router", f"{router.model.kind} on {router.embedder.name}"),
    ]
    for label, q in (("router", quality), ("random", random), ("oracle", oracle)):
        rows.append(
            (
                f"{label}",
                (
                    f"APGR {q.apgr:.3f}  CPT(50%) {show_percent(q.cpt50)}  "
                    f"CPT(80%) {show_percent(q.cpt80)}"
                ),
            )
        )
    rows += [
        (
            "weak / strong accuracy",
            f"{show_percent(quality.weak_accuracy)} / {show_percent(quality.strong_accuracy)}",
        ),
        (
            "at the threshold",
            (
                f"{show_percent(at_threshold['strong_share'])} to {strong}, "
                f"accuracy {show_percent(at_threshold['accuracy'])}"
            ),
        ),
    ]
    print(table(rows))
    return _EXIT_OK


def _pick(args: argparse.Namespace) -> int:
    router = load_router(Path(args.router))
    for decision in router.route_many(args.prompts):
        print(json.dumps({"model": decision.model, "score": decision.score}, allow_nan=False))
    return _EXIT_OK


def _weak_strong(router: DifficultyRouter, examples: LabelledSet) -> tuple[str, str]:
    names = [model.name for model in router.spec.models]
    missing = [name for name in names if name not in examples.models]
    if missing:
        raise DataError(f"the router routes between {names}; the data has no labels for {missing}")
    by_price = sorted(router.spec.models, key=lambda model: model.price)
    return by_price[0].name, by_price[-1].name


def _cached(args: argparse.Namespace, embedder: Embedder) -> Embedder:
    path = getattr(args, "embedding_cache", None)
    return embedder if path is None else DiskCachedEmbedder(embedder, Path(path))


def _embedder(name: str) -> Embedder:
    if name == "hashing":
        return HashingEmbedder()
    if name == "minilm-static":
        return StaticMiniLMEmbedder()
    return MiniLMEmbedder()


def _target(args: argparse.Namespace) -> Target:
    share = getattr(args, "strong_share", None)
    budget = getattr(args, "budget", None)
    if share is not None and budget is not None:
        raise ConfigError("give --strong-share or --budget, not both")
    if budget is not None:
        return CostBudget(mean_price=positive(budget, "--budget", "price per query"))
    return StrongShare(share=0.5 if share is None else fraction(share, "--strong-share"))


def _target_text(target: Target) -> str:
    if isinstance(target, StrongShare):
        return f"at most {show_percent(target.share)} of queries to the priciest model"
    return f"mean price per query at most {target.mean_price:g}"


def _prices(items: list[str]) -> dict[str, float] | None:
    if not items:
        return None
    prices: dict[str, float] = {}
    for item in items:
        model, separator, price = item.partition("=")
        if not separator or not model:
            raise ConfigError(f"--price must be MODEL=PRICE, got {item!r}")
        prices[model] = positive(price, "--price", "price per query")
    return prices


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"--seed must be a whole number, got {text!r}") from None


def _quality_json(quality: RoutingQuality) -> dict[str, float]:
    return {"apgr": quality.apgr, "cpt50": quality.cpt50, "cpt80": quality.cpt80}
