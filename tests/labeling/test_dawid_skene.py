import numpy as np

from labeling.dawid_skene import dawid_skene, majority_vote


def _simulate(rng, n_items=400, n_labelers=10, accuracies=None, k=5, n_classes=3):
    truth = rng.integers(0, n_classes, n_items)
    accuracies = accuracies if accuracies is not None else np.full(n_labelers, 0.8)
    rows = []
    for item in range(n_items):
        for labeler in rng.choice(len(accuracies), size=k, replace=False):
            if rng.random() < accuracies[labeler]:
                answer = truth[item]
            else:
                answer = rng.choice([c for c in range(n_classes) if c != truth[item]])
            rows.append((item, labeler, answer))
    return truth, np.array(rows)


def test_it_recovers_the_truth_and_each_labelers_accuracy():
    rng = np.random.default_rng(1)
    accuracies = np.array([0.9, 0.85, 0.8, 0.75, 0.7, 0.9, 0.85, 0.8, 0.75, 0.7])
    truth, answers = _simulate(rng, accuracies=accuracies)
    fit = dawid_skene(answers, n_items=len(truth), n_labelers=len(accuracies), n_classes=3)
    assert (fit.labels == truth).mean() > 0.95
    assert np.abs(fit.labeler_accuracy() - accuracies).max() < 0.08
    assert np.allclose(fit.posteriors.sum(axis=1), 1.0)


def test_it_outweighs_labelers_who_systematically_answer_wrong():
    rng = np.random.default_rng(2)
    # Two of ten labelers always answer the next class; the honest eight are right 65% of the time.
    n_items, n_classes, n_labelers = 400, 3, 10
    truth = rng.integers(0, n_classes, n_items)
    rows = []
    for item in range(n_items):
        for labeler in rng.choice(n_labelers, size=5, replace=False):
            if labeler < 2:
                answer = (truth[item] + 1) % n_classes
            elif rng.random() < 0.65:
                answer = truth[item]
            else:
                answer = rng.integers(0, n_classes)
            rows.append((item, labeler, answer))
    answers = np.array(rows)
    fit = dawid_skene(answers, n_items=n_items, n_labelers=n_labelers, n_classes=n_classes)
    vote = majority_vote(answers, n_items, n_classes).argmax(axis=1)
    assert (fit.labels == truth).mean() > (vote == truth).mean() + 0.05
    assert fit.labeler_accuracy()[:2].max() < 0.1


def test_known_gold_answers_are_kept_as_certain():
    answers = np.array([(0, 0, 1), (0, 1, 1), (1, 0, 0), (1, 1, 0)])
    fit = dawid_skene(answers, n_items=2, n_labelers=2, n_classes=2, known={0: 0})
    assert fit.labels[0] == 0
    assert fit.confidence[0] == 1.0
