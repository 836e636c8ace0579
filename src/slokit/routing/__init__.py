"""Model routing by query difficulty: routers, cascades, and RouteLLM's quality metrics."""

from slokit.routing.cascade import (
    Attempt,
    Cascade,
    CascadeResult,
    Completion,
    FormatVerifier,
    LogprobVerifier,
    SelfConsistencyVerifier,
    Tier,
    Verdict,
    Verifier,
)
from slokit.routing.data import STRONG, WEAK, LabelledSet, load_labelled
from slokit.routing.factorisation import FactorisationConfig
from slokit.routing.features import FeatureSpec
from slokit.routing.knn import KNNConfig
from slokit.routing.logistic import LogisticConfig
from slokit.routing.metrics import (
    QualityCurve,
    RoutingQuality,
    apgr,
    cpt,
    oracle_scores,
    quality_curve,
    random_scores,
    routing_quality,
)
from slokit.routing.policy import CostBudget, ModelPrice, StrongShare, Target, calibrate, choose
from slokit.routing.router import DifficultyRouter, RouteDecision, Router, RouterSpec
from slokit.routing.router_file import load_router, save_router
from slokit.routing.subject import SubjectConfig
from slokit.routing.train import LIGHT_MODELS, TrainConfig, TrainedRouter, train_router

__all__ = [
    "LIGHT_MODELS",
    "STRONG",
    "WEAK",
    "Attempt",
    "Cascade",
    "CascadeResult",
    "Completion",
    "CostBudget",
    "DifficultyRouter",
    "FactorisationConfig",
    "FeatureSpec",
    "FormatVerifier",
    "KNNConfig",
    "LabelledSet",
    "LogisticConfig",
    "LogprobVerifier",
    "ModelPrice",
    "QualityCurve",
    "RouteDecision",
    "Router",
    "RouterSpec",
    "RoutingQuality",
    "SelfConsistencyVerifier",
    "StrongShare",
    "SubjectConfig",
    "Target",
    "Tier",
    "TrainConfig",
    "TrainedRouter",
    "Verdict",
    "Verifier",
    "apgr",
    "calibrate",
    "choose",
    "cpt",
    "load_labelled",
    "load_router",
    "oracle_scores",
    "quality_curve",
    "random_scores",
    "routing_quality",
    "save_router",
    "train_router",
]
