import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score

from models.metrics import Confusion, best_f1, best_f1_within_far, evaluate


def test_the_confusion_matrix_counts_each_cell() -> None:
    predicted = np.array([1, 1, 0, 0, 1], bool)
    labels = np.array([1, 0, 0, 1, 1])
    c = Confusion.of(predicted, labels)
    assert (c.tn, c.fp, c.fn, c.tp) == (1, 1, 1, 2)
    assert c.precision == pytest.approx(2 / 3)
    assert c.recall == pytest.approx(2 / 3)
    assert c.f1 == pytest.approx(2 / 3)
    assert c.false_positive_rate == pytest.approx(0.5)


def test_the_articles_published_confusion_matrix_gives_its_published_figures() -> None:
    c = Confusion(tn=3319, fp=286, fn=36, tp=13)
    assert round(c.precision, 3) == 0.043  # the article rounds 0.0435 to 0.044
    assert round(c.recall, 3) == 0.265
    assert round(c.f1, 3) == 0.075
    assert round(c.false_positive_rate, 3) == 0.079


def test_evaluate_flags_scores_strictly_above_the_threshold() -> None:
    result = evaluate(np.array([0.1, 0.5, 0.5, 0.9]), np.array([0, 0, 1, 1]), threshold=0.5)
    assert result.confusion == {"tn": 2, "fp": 0, "fn": 1, "tp": 1}
    assert result.roc_auc == pytest.approx(0.875)


def test_aucs_are_absent_when_only_one_class_is_present() -> None:
    result = evaluate(np.array([0.1, 0.2]), np.array([0, 0]), threshold=0.15)
    assert result.roc_auc is None
    assert result.pr_auc is None


@settings(max_examples=60)
@given(
    st.lists(st.tuples(st.integers(0, 6), st.booleans()), min_size=2, max_size=60).filter(
        lambda pairs: 0 < sum(label for _, label in pairs) < len(pairs)
    )
)
def test_aucs_match_scikit_learn_including_ties(pairs: list[tuple[int, bool]]) -> None:
    scores = np.array([s / 3 for s, _ in pairs])  # few distinct values: many ties
    labels = np.array([int(label) for _, label in pairs])
    result = evaluate(scores, labels, threshold=1.0)
    assert result.roc_auc == pytest.approx(roc_auc_score(labels, scores))
    assert result.pr_auc == pytest.approx(average_precision_score(labels, scores))


def test_the_oracle_f1_is_the_best_f1_over_every_threshold() -> None:
    rng = np.random.default_rng(3)
    scores = rng.normal(size=300)
    labels = (rng.random(300) < 0.2).astype(int)
    scores[labels == 1] += 0.8
    every = [Confusion.of(scores > t, labels).f1 for t in np.r_[scores, scores.min() - 1]]
    assert best_f1(scores, labels) == pytest.approx(max(every))


def test_there_is_no_oracle_f1_without_a_positive_label_or_a_score() -> None:
    assert best_f1(np.array([0.1, 0.5]), np.array([0, 0])) is None
    assert best_f1(np.array([]), np.array([])) is None


def test_the_oracle_within_a_false_alarm_bound_is_the_best_f1_of_the_thresholds_inside_it() -> None:
    rng = np.random.default_rng(4)
    scores = rng.normal(size=400)
    labels = (rng.random(400) < 0.3).astype(int)
    scores[labels == 1] += 1.0
    cuts = np.r_[scores, scores.min() - 1]
    inside = [
        c for c in (Confusion.of(scores >= t, labels) for t in cuts) if c.false_positive_rate <= 0.1
    ]
    best = max(inside, key=lambda c: c.f1)
    bound = best_f1_within_far(scores, labels, max_far=10.0)
    assert bound is not None
    assert bound["f1"] == pytest.approx(best.f1)
    assert bound["far"] <= 10.0
    assert bound["far"] == pytest.approx(100 * best.false_positive_rate)
    assert bound["mar"] == pytest.approx(100 * (1 - best.recall))
    # a looser bound can only keep or raise it; no bound at all gives the plain oracle
    looser = best_f1_within_far(scores, labels, max_far=30.0)
    assert looser is not None
    assert looser["f1"] >= bound["f1"]
    everything = best_f1_within_far(scores, labels, max_far=100.0)
    assert everything is not None
    assert everything["f1"] == pytest.approx(best_f1(scores, labels))


def test_there_is_no_oracle_within_a_bound_no_threshold_meets() -> None:
    # every anomalous row scores below every normal one: any alarm on an anomaly is a false alarm
    # on all normal rows first
    scores, labels = np.array([0.9, 0.8, 0.1]), np.array([0, 0, 1])
    assert best_f1_within_far(scores, labels, max_far=40.0) is None
    assert best_f1_within_far(scores, np.array([0, 0, 0]), max_far=40.0) is None
