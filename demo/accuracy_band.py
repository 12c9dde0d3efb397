"""The demo recipe's accuracy band: the phantom config trained at a small, seeded scale, whose
recorded results (docs/records/demo_accuracy_band.jsonl) tests/test_demo.py checks its own run
against.

    python -m demo.accuracy_band --seeds 0 1 2 [--single-label] \\
        [--work-root work_dirs/accuracy_band] [--out docs/records/demo_accuracy_band.jsonl]

Each run is ``run_demo`` (demo/phantom_demo.py) at :data:`BAND_SCALE` on a phantom set with more
boxes labelled twice than the demo's (:data:`BAND_PHANTOM_OPTIONS`), then two numbers: the test
set's mAP50, and the shared-box score (``tbmm.evaluation.functional.shared_boxes``): on every
Consolidation + Effusion box of the training and test images, the weaker of the two classes' best
detection scores, averaged. ``--single-label`` also trains each seed with mmdet's single-label
targets, which teach one of the two classes as absent on such a box: the reference the label-set
gain is measured against. One JSON line per run goes to ``--out``, with the commit and command.
"""
import argparse
import json
import os
import os.path as osp
import platform
import resource
import subprocess
import sys
import time

from tbmm.datasets.phantom import DEMO_PHANTOM_OPTIONS

#: 12 epochs (the phantom config's own schedule) of 120 images, at 128 px (images and model
#: input): a step costs a third of one at the config's 256 px, and the large classes are learnt.
BAND_SCALE = dict(num_train=120, num_test=40, image_size=128, max_epochs=12)
#: The demo's mix with every other positive image holding a box labelled Consolidation and Effusion
#: (the demo set: one in ten), so that the label-set gain shows in a run of minutes.
BAND_PHANTOM_OPTIONS = dict(DEMO_PHANTOM_OPTIONS, multilabel_fraction=0.5)
#: mmdet's single-label targets (README: "Boxes with several classes").
SINGLE_LABEL_OPTIONS = {'model.bbox_head.type': 'RetinaHead',
                        'model.bbox_head.loss_cls.type': 'FocalLoss'}
PAIR = ('Consolidation', 'Effusion')


def band_metrics(work_dir, data_root, cfg_options=None):
    """The band's numbers of a finished ``run_demo`` in ``work_dir`` on the set in ``data_root``:
    ``{"map50", "ap50": {class: AP50}, "shared_boxes": {"boxes", "mean_weaker_score",
    "mean_stronger_score"}}``; ``cfg_options`` as the run was trained with."""
    from demo.phantom_demo import PHANTOM_CONFIG, find_last_checkpoint, resize_pipelines
    from tbmm.apis.config import load_config
    from tbmm.apis.inference import init_model, predict_files, sample_to_record
    from tbmm.datasets.annotations import read_annotations
    from tbmm.evaluation.functional.shared_boxes import (
        shared_box_scores,
        summarize_shared_box_scores,
    )

    with open(osp.join(work_dir, 'test.metrics.json')) as f:
        result = json.load(f)
    cfg = resize_pipelines(load_config(PHANTOM_CONFIG, cfg_options), BAND_SCALE['image_size'])
    model = init_model(cfg, find_last_checkpoint(work_dir))
    classes = tuple(model.dataset_meta['classes'])
    entries = []
    for split in ('train', 'test'):
        records = read_annotations(osp.join(data_root, 'annotation', f'{split}.json'))
        # Only the images with a shared box are predicted (an image without predictions still
        # lists its shared boxes, with scores 0).
        with_shared = {r['file_name']: r for r in records if shared_box_scores([r], [], PAIR)}
        paths = {osp.join(data_root, f'{split}_data', name): name for name in with_shared}
        predictions = []
        for path, sample in predict_files(model, list(paths), batch_size=8):
            if isinstance(sample, Exception):
                raise sample
            predictions.append(sample_to_record(paths[path], sample, classes))
        entries += shared_box_scores(list(with_shared.values()), predictions, PAIR)
    return {'map50': result['overall']['ap50'],
            'ap50': {name: entry['ap50'] for name, entry in result['per_class'].items()},
            'shared_boxes': summarize_shared_box_scores(entries)}


def _cpu_seconds():
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _commit():
    try:
        return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True,
                              text=True, check=True, cwd=osp.dirname(__file__)).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def run_band(seed, work_root, label_sets=True, bf16=None):
    """Train and measure one band run; returns its record (see the module docstring)."""
    import torch

    from demo.phantom_demo import run_demo
    from tbmm.engine.optimizers import cpu_has_fast_bf16

    data_root = osp.join(work_root, f'phantom_seed{seed}')
    targets = 'label_sets' if label_sets else 'single_label'
    work_dir = osp.join(work_root, f'{targets}_seed{seed}')
    cfg_options = None if label_sets else SINGLE_LABEL_OPTIONS
    bf16 = cpu_has_fast_bf16() if bf16 is None else bf16
    start, cpu_start = time.time(), _cpu_seconds()
    run_demo(data_root=data_root, work_dir=work_dir, seed=seed, bf16=bf16,
             cfg_options=cfg_options, phantom_options=BAND_PHANTOM_OPTIONS, **BAND_SCALE)
    elapsed, cpu = time.time() - start, _cpu_seconds() - cpu_start
    return dict(seed=seed, targets=targets, precision='bf16' if bf16 else 'float32',
                **band_metrics(work_dir, data_root, cfg_options),
                demo_seconds=round(elapsed, 1), demo_cpu_seconds=round(cpu, 1),
                scale=BAND_SCALE, phantom_options=BAND_PHANTOM_OPTIONS,
                commit=_commit(), date=time.strftime('%Y-%m-%d'),
                machine=f'{os.cpu_count()} cores, {platform.processor() or platform.machine()}, '
                        f'torch {torch.__version__}, OMP_NUM_THREADS='
                        f'{os.environ.get("OMP_NUM_THREADS", "unset")}')


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="The demo recipe's accuracy band: seeded small-scale phantom trainings")
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--single-label', action='store_true',
                        help="also train each seed with mmdet's single-label targets")
    parser.add_argument('--work-root', default='work_dirs/accuracy_band')
    parser.add_argument('--out', default='work_dirs/accuracy_band/band.jsonl',
                        help='JSON lines file the records are appended to')
    parser.add_argument('--precision', choices=['auto', 'float32', 'bfloat16'], default='auto')
    args = parser.parse_args(argv)
    bf16 = None if args.precision == 'auto' else args.precision == 'bfloat16'
    command = 'python -m demo.accuracy_band ' + ' '.join(sys.argv[1:] if argv is None else argv)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    for seed in args.seeds:
        for label_sets in ((True, False) if args.single_label else (True, )):
            record = run_band(seed, args.work_root, label_sets, bf16)
            record['command'] = command
            with open(args.out, 'a', encoding='utf-8') as f:
                f.write(json.dumps(record) + '\n')
            shared = record['shared_boxes']
            print(f'seed {seed} {record["targets"]}: mAP50 {record["map50"]:.3f}, shared-box '
                  f'weaker score {shared["mean_weaker_score"]:.3f} ({shared["boxes"]} boxes), '
                  f'{record["demo_seconds"]:.0f} s', flush=True)
    return 0


if __name__ == '__main__':  # python -m demo.accuracy_band, from the repository root
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
