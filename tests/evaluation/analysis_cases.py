"""Records for the confusion-matrix, error-analysis and analysis-CLI tests."""
import numpy as np


def record(file_name, syms=(), boxes=(), scores=None):
    rec = {'file_name': file_name, 'syms': list(syms), 'boxes': [list(b) for b in boxes]}
    if scores is not None:
        rec['scores'] = list(scores)
    return rec


def random_case(seed, n_images=60, classes=('Nodule', 'Mass', 'Effusion')):
    rng = np.random.default_rng(seed)
    gt, pred = [], []
    for i in range(n_images):
        n = int(rng.integers(0, 4))
        corner = rng.uniform(0, 300, size=(n, 2))
        boxes = np.hstack([corner, corner + rng.uniform(20, 120, size=(n, 2))])
        syms = [str(s) for s in rng.choice(classes, size=n)]
        if n and rng.random() < 0.3:  # a box with a second class
            boxes = np.vstack([boxes, boxes[:1]])
            syms.append(next(c for c in classes if c != syms[0]))
        gt.append(record(f'{i}.png', syms, boxes.tolist()))
        m = int(rng.integers(0, 8))
        src = boxes[rng.integers(0, len(boxes), size=m)] if len(boxes) else np.zeros((m, 4))
        jitter = src + rng.normal(0, 15, size=(m, 4))
        jitter[:, 2:] = np.maximum(jitter[:, 2:], jitter[:, :2] + 2)
        pred.append(record(f'{i}.png', [str(s) for s in rng.choice(classes, size=m)],
                           jitter.tolist(), rng.random(m).round(2).tolist()))
    return gt, pred
