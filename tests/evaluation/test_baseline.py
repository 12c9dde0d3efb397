"""Box-prior baseline: k-means of training boxes, constant-score predictions, per split."""
import numpy as np
import pytest

from tbmm.evaluation.functional import (
    baseline_predictions,
    box_prior_baseline,
    evaluate_records,
    predict_baseline,
)
from tbmm.evaluation.functional.baseline import kmeans_boxes


def record(file_name, syms=(), boxes=()):
    return {'file_name': file_name, 'syms': list(syms), 'boxes': [list(b) for b in boxes]}


def cluster(rng, centre, n, spread=2.0):
    return np.asarray(centre, dtype=np.float64) + rng.normal(0, spread, size=(n, 4))


@pytest.mark.parametrize('distance', ['iou', 'cxcywh'])
def test_two_tight_clusters_give_their_centres(distance):
    rng = np.random.default_rng(0)
    a, b = [50, 60, 150, 200], [300, 320, 420, 400]
    boxes = np.vstack([cluster(rng, a, 30), cluster(rng, b, 20)])
    centres, sizes = kmeans_boxes(boxes, 2, distance=distance)
    assert sizes.tolist() == [30, 20]  # largest cluster first
    np.testing.assert_allclose(centres[0], boxes[:30].mean(axis=0))
    np.testing.assert_allclose(centres[1], boxes[30:].mean(axis=0))
    np.testing.assert_allclose(centres, [a, b], atol=1.5)


def test_identical_boxes_and_fewer_distinct_boxes_than_k():
    box = [10.1, 20.3, 110.7, 90.9]
    centres, sizes = kmeans_boxes([box] * 7, 1)
    assert centres.tolist() == [box] and sizes.tolist() == [7]
    centres, sizes = kmeans_boxes([box] * 3 + [[0, 0, 5, 5]], 3)
    assert centres.tolist() == [box, [0, 0, 5, 5]] and sizes.tolist() == [3, 1]
    centres, sizes = kmeans_boxes([], 2)
    assert centres.shape == (0, 4) and sizes.shape == (0, )


def test_three_clusters_with_one_far_away_and_no_overlap():
    # Boxes overlapping no centre go to the nearest centre: k-means must still separate them.
    rng = np.random.default_rng(1)
    centres_true = [[10, 10, 40, 40], [200, 10, 230, 40], [600, 600, 700, 700]]
    boxes = np.vstack([cluster(rng, c, 15, spread=1.0) for c in centres_true])
    centres, sizes = kmeans_boxes(boxes, 3, seed=5)
    assert sorted(sizes.tolist()) == [15, 15, 15]
    got = sorted(map(tuple, np.round(centres, -1)))
    assert got == sorted(map(tuple, np.round(np.asarray(centres_true, dtype=float), -1)))


def test_deterministic_for_a_seed():
    rng = np.random.default_rng(2)
    boxes = rng.uniform(0, 400, size=(200, 2))
    boxes = np.hstack([boxes, boxes + rng.uniform(20, 200, size=(200, 2))])
    first = kmeans_boxes(boxes, 3, seed=7)
    second = kmeans_boxes(boxes, 3, seed=7)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def training_set():
    rng = np.random.default_rng(3)
    train = []
    for i in range(40):
        syms, boxes = [], []
        if i % 2 == 0:  # Effusion in half the images, at one of two places
            syms.append('Effusion')
            boxes.append(cluster(rng, [40, 300, 200, 480] if i % 4 == 0 else [320, 300, 480, 480],
                                 1)[0])
        if i % 10 == 0:  # Nodule in a tenth
            syms.append('Nodule')
            boxes.append(cluster(rng, [200, 200, 230, 230], 1)[0])
        train.append(record(f't{i}.png', syms, boxes))
    return train


def test_priors_and_scores():
    priors = box_prior_baseline(training_set(), ['Effusion', 'Nodule', 'Mass'], k=2)
    assert priors['classes'] == ['Effusion', 'Nodule', 'Mass'] and priors['n_train_images'] == 40
    effusion = priors['priors']['Effusion']
    assert effusion['n_train_boxes'] == 20 and effusion['n_train_images'] == 20
    assert effusion['cluster_sizes'] == [10, 10]
    np.testing.assert_allclose(effusion['boxes'], [[40, 300, 200, 480], [320, 300, 480, 480]],
                               atol=2)
    # share of images with the class x share of its boxes in the cluster
    assert effusion['scores'] == [0.25, 0.25]
    nodule = priors['priors']['Nodule']
    # 4 boxes of one place still split into k=2 clusters; the scores share the image share.
    assert len(nodule['boxes']) == 2 and sum(nodule['scores']) == pytest.approx(0.1)
    mass = priors['priors']['Mass']
    assert mass['boxes'] == [] and mass['scores'] == [] and mass['n_train_boxes'] == 0

    preds = predict_baseline(priors, ['a.png', 'b.png'])
    assert [p['file_name'] for p in preds] == ['a.png', 'b.png']
    assert preds[0]['syms'] == ['Effusion', 'Effusion', 'Nodule', 'Nodule']
    assert preds[0]['scores'] == [0.25, 0.25] + nodule['scores']
    assert preds[0]['boxes'] == preds[1]['boxes']
    assert predict_baseline(priors, ['a.png'], score=0.5)[0]['scores'] == [0.5] * 4
    one = box_prior_baseline(training_set(), ['Nodule'], k=1)['priors']['Nodule']
    assert one['scores'] == [0.1] and one['cluster_sizes'] == [4]


def test_baseline_on_a_split_is_scored_and_beaten_by_a_perfect_model():
    train = training_set()
    val = [record(f'v{i}.png', ['Effusion'], [[40, 300, 200, 480]]) for i in range(5)] + [
        record('v_neg.png')]
    preds = baseline_predictions(train, val, ['Effusion', 'Nodule'], k=2)
    assert preds == baseline_predictions(train, [r['file_name'] for r in val],
                                         ['Effusion', 'Nodule'], k=2)
    result = evaluate_records(val, preds, ['Effusion', 'Nodule'])
    effusion = result['per_class']['Effusion']
    assert 0.0 < effusion['ap50'] < 1.0  # one prior hits, the other is a false positive
    assert result['overall']['image_auc'] == 0.5  # every image scores the same
    perfect = [dict(r, scores=[1.0] * len(r['boxes'])) for r in val]
    assert evaluate_records(val, perfect, ['Effusion', 'Nodule'])['overall']['ap50'] == 1.0


def test_bad_arguments():
    with pytest.raises(ValueError, match='distance'):
        kmeans_boxes([[0, 0, 1, 1]], 1, distance='l1')
    with pytest.raises(ValueError, match='k must be'):
        kmeans_boxes([[0, 0, 1, 1]], 0)
