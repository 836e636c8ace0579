"""A logistic model mixed with subject priors: which subject a query is, and how hard it is.

Training rows carry a subject label (MMLU's 57 subjects); serving queries do not. The model
learns a softmax classifier from the features to the subject, and each model's accuracy per
subject, shrunk towards its overall accuracy. A query's subject prior is the classifier's
posterior averaged over those accuracies; it is mixed with a per-model logistic regression:

    prior_m(x)  = sum_s P(s | x) * (right_m[s] + k * base_m) / (count[s] + k)
    P(m | x)    = mix * logistic_m(x) + (1 - mix) * prior_m(x)

Scoring one query is two small matrix products over the features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

from slokit.errors import DataError
from slokit.routing.logistic import LogisticConfig, LogisticModel
from slokit.routing.predictor import Features, Labels, Probabilities, State

KIND = "subject"


@dataclass(frozen=True, slots=True, kw_only=True)
class SubjectConfig:
    """``mix`` is the logistic regression's weight (the subject prior has ``1 - mix``);
    ``shrinkage`` is ``k``, pseudo-examples at the overall accuracy added to each subject;
    ``subject_l2`` the classifier's penalty per training example.

    The defaults were chosen by 5-fold cross-validation on the training part of MMLU
    (``docs/routing.md``).
    """

    mix: float = 0.3
    shrinkage: float = 10.0
    subject_l2: float = 1e-4
    max_iterations: int = 500
    logistic: LogisticConfig = field(default_factory=LogisticConfig)

    def __post_init__(self) -> None:
        if not 0.0 <= self.mix <= 1.0:
            raise ValueError(f"mix must be a weight in [0, 1], got {self.mix}")
        if self.shrinkage < 0:
            raise ValueError(f"shrinkage must be >= 0, got {self.shrinkage}")
        if self.subject_l2 < 0:
            raise ValueError(f"subject_l2 must be >= 0, got {self.subject_l2}")
        if self.max_iterations < 1:
            raise ValueError(f"max_iterations must be >= 1, got {self.max_iterations}")


def subject_accuracy(
    labels: Labels, subject_index: NDArray[np.intp], subjects: int, shrinkage: float
) -> NDArray[np.float64]:
    """``(subjects, models)``: ``(right[s] + k * base) / (count[s] + k)``, ``k = shrinkage``.

    A subject with no examples gets the overall accuracy ``base``.
    """
    y = np.asarray(labels, dtype=np.float64)
    base = y.mean(axis=0)
    right = np.zeros((subjects, y.shape[1]))
    np.add.at(right, subject_index, y)
    count = np.bincount(subject_index, minlength=subjects).astype(np.float64)[:, None]
    # An unseen subject is the overall accuracy outright: with a tiny k the ratio would
    # underflow to 0 or divide 0 by 0.
    shrunk = (right + shrinkage * base) / (count + shrinkage + (count == 0))
    result: NDArray[np.float64] = np.where(count > 0, shrunk, base)
    return result


def softmax(logits: NDArray[np.float64]) -> NDArray[np.float64]:
    """Row-wise ``exp(z) / sum(exp(z))``, shifted by the row maximum so it cannot overflow."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    result: NDArray[np.float64] = shifted / shifted.sum(axis=1, keepdims=True)
    return result


def fit_softmax(
    features: Features, classes: NDArray[np.intp], count: int, l2: float, max_iterations: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Weights ``(dims, count)`` and intercepts minimising mean cross-entropy + ``l2 |W|^2 / 2``."""
    x = np.asarray(features, dtype=np.float64)
    n, dims = x.shape
    onehot = np.zeros((n, count))
    onehot[np.arange(n), classes] = 1.0

    def loss(params: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        w, b = params[: dims * count].reshape(dims, count), params[dims * count :]
        logits = x @ w + b
        top = logits.max(axis=1, keepdims=True)
        log_norm = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        value = (log_norm - (logits * onehot).sum(axis=1)).mean() + 0.5 * l2 * np.sum(w * w)
        residual = (softmax(logits) - onehot) / n
        gradient = np.concatenate(((x.T @ residual + l2 * w).ravel(), residual.sum(axis=0)))
        return float(value), gradient

    result = minimize(
        loss,
        np.zeros(dims * count + count),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iterations},
    )
    params = result.x
    return params[: dims * count].reshape(dims, count), params[dims * count :]


class SubjectModel:
    """``mix * logistic + (1 - mix) * subject prior``; see the module docstring."""

    def __init__(
        self,
        logistic: LogisticModel,
        subject_weights: NDArray[np.float64],
        subject_intercepts: NDArray[np.float64],
        accuracy: NDArray[np.float64],
        *,
        mix: float,
        subjects: tuple[str, ...],
    ) -> None:
        if accuracy.shape[0] != len(subjects) or subject_weights.shape[1] != len(subjects):
            raise ValueError("subject weights, accuracies and names must agree in length")
        self._logistic = logistic
        self._subject_weights = np.asarray(subject_weights, dtype=np.float64)
        self._subject_intercepts = np.asarray(subject_intercepts, dtype=np.float64)
        self._accuracy = np.asarray(accuracy, dtype=np.float64)
        self.mix = mix
        self.subjects = subjects

    @classmethod
    def fit(
        cls,
        features: Features,
        labels: Labels,
        subjects: Sequence[str],
        config: SubjectConfig,
    ) -> SubjectModel:
        """Fit the logistic regression, the subject classifier and the shrunk accuracies."""
        if len(subjects) != len(features):
            raise DataError(f"{len(features)} examples but {len(subjects)} subject labels")
        names, index = np.unique(np.asarray(subjects, dtype=str), return_inverse=True)
        logistic = LogisticModel.fit(features, labels, config.logistic)
        weights, intercepts = fit_softmax(
            features, index, len(names), config.subject_l2, config.max_iterations
        )
        accuracy = subject_accuracy(labels, index, len(names), config.shrinkage)
        return cls(
            logistic,
            weights,
            intercepts,
            accuracy,
            mix=config.mix,
            subjects=tuple(str(name) for name in names),
        )

    @property
    def kind(self) -> str:
        return KIND

    def subject_posterior(self, features: Features) -> Probabilities:
        """``(n, subjects)``: the classifier's P(subject | query)."""
        x = np.asarray(features, dtype=np.float64)
        return softmax(x @ self._subject_weights + self._subject_intercepts)

    def parts(self, features: Features) -> tuple[Probabilities, Probabilities]:
        """The logistic regression's and the subject prior's ``(n, models)`` probabilities."""
        prior: Probabilities = self.subject_posterior(features) @ self._accuracy
        return self._logistic.predict(features), prior

    def predict(self, features: Features) -> Probabilities:
        logistic, prior = self.parts(features)
        result: Probabilities = self.mix * logistic + (1.0 - self.mix) * prior
        return result

    def state(self) -> State:
        logistic = self._logistic.state()
        return {
            "weights": logistic["weights"],
            "intercepts": logistic["intercepts"],
            "subject_weights": self._subject_weights,
            "subject_intercepts": self._subject_intercepts,
            "subject_accuracy": self._accuracy,
            "mix": self.mix,
            "subjects": "\n".join(self.subjects),
        }

    @classmethod
    def from_state(cls, state: State) -> SubjectModel:
        mix = state["mix"]
        if not isinstance(mix, int | float):
            raise TypeError("'mix' must be a number")
        return cls(
            LogisticModel.from_state(state),
            np.asarray(state["subject_weights"], dtype=np.float64),
            np.asarray(state["subject_intercepts"], dtype=np.float64),
            np.asarray(state["subject_accuracy"], dtype=np.float64),
            mix=float(mix),
            subjects=tuple(str(state["subjects"]).split("\n")),
        )
