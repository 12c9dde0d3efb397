#!/usr/bin/env python
"""Time the evaluation on a seeded synthetic ChestX-Det-sized case (default 542 images x 100 boxes).

    python tools/analysis_tools/benchmark_evaluate.py [--images 542] [--dets 100] [--repeat 3]
                                                      [--seed 0] [--bootstrap 1000]

Reports the best of ``--repeat`` runs of the core (:func:`evaluate_records` on records in memory)
and of the full CLI (``python tools/evaluate.py`` in a fresh process: interpreter start-up, imports,
JSON reading and validation, evaluation, table, metrics JSON), without and with the FROC PNG; then
:func:`bootstrap_intervals` with ``--bootstrap`` resamples of the images (in memory), and the CLI
with ``--bootstrap`` (0 skips both).
"""
import argparse
import os
import os.path as osp
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

from tbmm.classes import DEFAULT_CLASSES
from tbmm.datasets.annotations import write_annotations
from tbmm.evaluation.functional import bootstrap_intervals, evaluate_records
from tbmm.utils import cpu_name

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def synthetic_case(n_images, dets_per_image, seed=0, classes=DEFAULT_CLASSES, image_size=1024):
    """Ground truth (about 30% negative images, up to 4 lesions each) and noisy predictions.

    Predictions per image: a jittered copy of most lesions with high-ish scores, then random boxes
    of random classes with lower scores, up to ``dets_per_image`` boxes.
    """
    rng = np.random.default_rng(seed)

    def random_boxes(n):
        size = rng.uniform(20, 300, size=(n, 2))
        corner = rng.uniform(0, image_size - size)
        return np.round(np.hstack([corner, corner + size]), 1)

    gt_records, pred_records = [], []
    for i in range(n_images):
        file_name = f'{40000 + i}.png'
        n_gt = 0 if rng.random() < 0.3 else int(rng.integers(1, 5))
        gt_boxes = random_boxes(n_gt)
        gt_syms = [str(c) for c in rng.choice(classes, size=n_gt)]
        gt_records.append({'file_name': file_name, 'syms': gt_syms, 'boxes': gt_boxes.tolist()})

        found = rng.random(n_gt) < 0.8
        jitter = rng.normal(0, 8, size=(int(found.sum()), 4))
        hit_boxes = np.sort((gt_boxes[found] + jitter).reshape(-1, 2, 2), axis=1).reshape(-1, 4)
        hit_boxes[:, 2:] = np.maximum(hit_boxes[:, 2:], hit_boxes[:, :2] + 1)
        n_noise = dets_per_image - len(hit_boxes)
        boxes = np.vstack([hit_boxes, random_boxes(n_noise)])
        syms = [s for s, f in zip(gt_syms, found) if f] + [
            str(c) for c in rng.choice(classes, size=n_noise)]
        scores = np.concatenate([rng.uniform(0.3, 1.0, len(hit_boxes)),
                                 rng.uniform(0.0, 0.6, n_noise)])
        pred_records.append({'file_name': file_name, 'syms': syms,
                              'boxes': np.round(boxes, 1).tolist(),
                              'scores': np.round(scores, 4).tolist()})
    return gt_records, pred_records


def best_time(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=542)
    parser.add_argument('--dets', type=int, default=100, help='detections per image')
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--bootstrap', type=int, default=1000,
                        help='bootstrap resamples to time (default 1000; 0: skip)')
    args = parser.parse_args(argv)

    gt_records, pred_records = synthetic_case(args.images, args.dets, args.seed)
    n_gt = sum(len(r['boxes']) for r in gt_records)
    print(f'case: {args.images} images ({n_gt} GT boxes), {args.dets} detections/image '
          f'({args.images * args.dets} total), seed {args.seed}')
    print(f'machine: nproc={os.cpu_count()}, {cpu_name()}, Python {platform.python_version()}, '
          f'load average {os.getloadavg()[0]:.2f} (other processes share the CPUs)')

    result = evaluate_records(gt_records, pred_records)
    overall = result['overall']
    print(f'sanity: mAP50 {overall["ap50"]:.3f}, COCO mAP {overall["coco_ap"]:.3f}, '
          f'FROC avgrecall {overall["froc_avgrecall"]:.3f}, image AUC {overall["image_auc"]:.3f}')
    core = best_time(lambda: evaluate_records(gt_records, pred_records), args.repeat)
    print(f'core evaluate_records: {core:.3f} s (best of {args.repeat})')
    if args.bootstrap:
        boot = bootstrap_intervals(gt_records, pred_records, n_resamples=args.bootstrap)
        print(f'sanity: mAP50 95% CI {boot["overall"]["ap50_ci95"][0]:.3f}-'
              f'{boot["overall"]["ap50_ci95"][1]:.3f}, mFROC '
              f'{boot["overall"]["froc_avgrecall_ci95"][0]:.3f}-'
              f'{boot["overall"]["froc_avgrecall_ci95"][1]:.3f}')
        core_boot = best_time(lambda: bootstrap_intervals(gt_records, pred_records,
                                                          n_resamples=args.bootstrap), args.repeat)
        print(f'core bootstrap_intervals, {args.bootstrap} resamples of the images: '
              f'{core_boot:.3f} s (best of {args.repeat})')

    with tempfile.TemporaryDirectory() as tmp:
        ann, pred = osp.join(tmp, 'gt.json'), osp.join(tmp, 'pred.json')
        write_annotations(ann, gt_records)
        write_annotations(pred, pred_records)
        command = [sys.executable, osp.join(REPO_ROOT, 'tools', 'evaluate.py'), '--ann', ann,
                   '--pred', pred, '--out', osp.join(tmp, 'metrics.json')]
        runs = [('CLI', []), ('CLI + --froc-png', ['--froc-png', osp.join(tmp, 'froc.png')])]
        if args.bootstrap:
            runs.append((f'CLI + --bootstrap {args.bootstrap}', ['--bootstrap',
                                                                 str(args.bootstrap)]))
        for label, extra in runs:
            cli = best_time(lambda: subprocess.run(command + extra, check=True,
                                                   stdout=subprocess.DEVNULL), args.repeat)
            print(f'{label}: {cli:.3f} s wall (best of {args.repeat}, fresh process each)')
    # The CLI's floor: interpreter start-up plus whatever importing the tbmm package costs.
    package_import = best_time(lambda: subprocess.run(
        [sys.executable, '-c', 'import tbmm'], check=True, cwd=REPO_ROOT), args.repeat)
    print(f'of which `python -c "import tbmm"`: {package_import:.3f} s')


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
