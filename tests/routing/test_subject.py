"""The subject light model: shrunk per-subject accuracy, the subject classifier, the mix."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from slokit.embedding import HashingEmbedder
from slokit.errors import DataError
from slokit.routing import (
    LIGHT_MODELS,
    STRONG,
    WEAK,
    LabelledSet,
    SubjectConfig,
    TrainConfig,
    load_labelled,
    train_router,
)
from slokit.routing.features import FeatureSpec, featurise
from slokit.routing.subject import SubjectModel, softmax, subject_accuracy

EMBEDDER = HashingEmbedder(dimensions=64)


@given(
    st.lists(st.tuples(st.integers(0, 3), st.booleans()), min_size=1, max_size=40),
    st.floats(0.0, 100.0),
)
def test_shrunk_accuracy_lies_between_the_subjects_own_and_the_overall(
    rows: list[tuple[int, bool]], shrinkage: float
) -> None:
    index = np.array([subject for subject, _ in rows], dtype=np.intp)
    labels = np.array([[right] for _, right in rows])
    accuracy = subject_accuracy(labels, index, 5, shrinkage)[:, 0]
    base = labels.mean()
    for subject in range(5):
        own = labels[index == subject, 0]
        if own.size == 0:
            assert accuracy[subject] == pytest.approx(base)
        else:
            low, high = sorted((own.mean(), base))
            assert low - 1e-12 <= accuracy[subject] <= high + 1e-12


def test_no_shrinkage_is_the_raw_accuracy_and_much_is_the_overall() -> None:
    index = np.array([0, 0, 0, 1], dtype=np.intp)
    labels = np.array([[True], [True], [False], [False]])
    np.testing.assert_allclose(subject_accuracy(labels, index, 2, 0.0)[:, 0], [2 / 3, 0.0])
    np.testing.assert_allclose(subject_accuracy(labels, index, 2, 1e9)[:, 0], [0.5, 0.5])


def test_softmax_sums_to_one_without_overflow() -> None:
    probabilities = softmax(np.array([[1000.0, 0.0, -1000.0], [1.0, 1.0, 1.0]]))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    np.testing.assert_allclose(probabilities[1], 1 / 3)
    assert probabilities[0, 0] == pytest.approx(1.0)


def _fit(examples: LabelledSet, config: SubjectConfig) -> tuple[SubjectModel, np.ndarray]:
    features = featurise(EMBEDDER, examples.prompts, FeatureSpec())
    assert examples.subjects is not None
    return SubjectModel.fit(features, examples.correct, examples.subjects, config), features


def test_the_classifier_recovers_the_subject_from_the_prompt(examples: LabelledSet) -> None:
    model, features = _fit(examples, SubjectConfig())
    posterior = model.subject_posterior(features)
    guessed = [model.subjects[i] for i in posterior.argmax(axis=1)]
    assert model.subjects == ("easy", "hard")
    assert np.mean([g == s for g, s in zip(guessed, examples.subjects or (), strict=True)]) > 0.95


def test_the_subject_prior_alone_ranks_hard_prompts_first(examples: LabelledSet) -> None:
    model, features = _fit(examples, SubjectConfig(mix=0.0))
    probabilities = model.predict(features)
    gain = probabilities[:, 1] - probabilities[:, 0]
    hard = np.array([s == "hard" for s in examples.subjects or ()])
    assert gain[hard].min() > gain[~hard].max()
    # Strong is always right in the synthetic data, whatever the subject.
    np.testing.assert_allclose(probabilities[:, 1], 1.0, atol=0.02)


@pytest.mark.parametrize("mix", [0.0, 0.3, 1.0])
def test_predictions_mix_the_logistic_and_the_prior(examples: LabelledSet, mix: float) -> None:
    model, features = _fit(examples, SubjectConfig(mix=mix))
    logistic, prior = model.parts(features)
    np.testing.assert_allclose(model.predict(features), mix * logistic + (1 - mix) * prior)


def test_the_state_rebuilds_the_same_model(examples: LabelledSet) -> None:
    model, features = _fit(examples, SubjectConfig())
    rebuilt = SubjectModel.from_state(model.state())
    assert rebuilt.subjects == model.subjects
    np.testing.assert_allclose(rebuilt.predict(features), model.predict(features))


@pytest.mark.parametrize(
    "change", [{"mix": 1.5}, {"mix": -0.1}, {"shrinkage": -1.0}, {"subject_l2": -1.0}]
)
def test_bad_settings_are_refused(change: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(change))):
        dataclasses.replace(SubjectConfig(), **change)


def test_subject_labels_must_match_the_examples(examples: LabelledSet) -> None:
    features = featurise(EMBEDDER, examples.prompts, FeatureSpec())
    with pytest.raises(DataError, match="subject labels"):
        SubjectModel.fit(features, examples.correct, ("easy",), SubjectConfig())


def test_without_subjects_training_skips_the_subject_model(examples: LabelledSet) -> None:
    unlabelled = dataclasses.replace(examples, subjects=None)
    trained = train_router(unlabelled, EMBEDDER, TrainConfig(candidates=("logistic", "subject")))
    assert set(trained.validation) == {"logistic"}
    assert "subject" in LIGHT_MODELS
    with pytest.raises(DataError, match="need a 'subject'"):
        train_router(unlabelled, EMBEDDER, TrainConfig(candidates=("subject",)))


def test_labelled_data_keeps_subjects_only_when_every_row_has_one(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    rows = [
        '{"prompt": "a", "weak_correct": true, "strong_correct": true, "subject": "law"}',
        '{"prompt": "b", "weak_correct": false, "strong_correct": true, "subject": "maths"}',
        '{"prompt": "c", "weak_correct": false, "strong_correct": false, "subject": "law"}',
    ]
    path.write_text("\n".join(rows))
    data = load_labelled(path)
    assert data.subjects == ("law", "maths", "law")
    assert data.take(np.array([2, 1])).subjects == ("law", "maths")
    assert data.column(STRONG).tolist() == [True, True, False]
    path.write_text(
        "\n".join([*rows, '{"prompt": "d", "weak_correct": true, "strong_correct": true}'])
    )
    assert load_labelled(path).subjects is None
    with pytest.raises(DataError, match="subjects"):
        LabelledSet(("a",), (WEAK, STRONG), np.array([[True, True]]), ("x", "y"))
