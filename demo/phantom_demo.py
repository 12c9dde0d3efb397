"""The end-to-end demo behind ``make demo``: phantom data → train → test → report and overlays,
on CPU.

    python demo/phantom_demo.py [--data-root data/phantom] [--work-dir work_dirs/demo] [--epochs N]

Every step calls the same functions as the tools, so the demo also shows how to use them.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

from tbmm.classes import DEFAULT_CLASSES
from tbmm.datasets.phantom import DEMO_PHANTOM_OPTIONS, ensure_phantom_dataset

#: The demo trains this repository's phantom config (found from this checkout, not the package).
REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PHANTOM_CONFIG = osp.join(REPO_ROOT, 'configs', 'tb_retinanet', 'phantom',
                          'retinanet_r18_fpn_phantom.py')


def _say(msg):
    print(f'[demo {time.strftime("%H:%M:%S")}] {msg}', flush=True)


def find_last_checkpoint(work_dir):
    """The run's last checkpoint.

    Not the best by validation: the phantom set has no validation split, so the phantom config
    validates on its test set, and picking the best epoch there would select on the test images.
    """
    last = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(last):
        with open(last) as f:
            return f.read().strip()
    raise FileNotFoundError(f'no checkpoint in {work_dir}')


def write_overlays(config, checkpoint, ann_file, img_dir, out_dir, num_images=6, score_thr=0.3):
    """Ground truth vs prediction overlays for the first ``num_images`` records of ``ann_file``
    (``config``: a file or a loaded ``Config``)."""
    from tbmm.apis.inference import init_model, predict_files, sample_to_record
    from tbmm.datasets.annotations import read_annotations, write_annotations
    from tbmm.datasets.image_io import read_xray
    from tbmm.visualization import draw_gt_vs_pred, save_image

    os.makedirs(out_dir, exist_ok=True)
    model = init_model(config, checkpoint, device='cpu')
    classes = tuple(model.dataset_meta['classes'])
    # Prefer images with findings, plus one negative, so the overlays show something.
    records = read_annotations(ann_file)
    chosen = [r for r in records if r['boxes']][:num_images - 1] + \
        [r for r in records if not r['boxes']][:1]
    # By path: file names may have folders (``sub/1.png``).
    gt_by_path = {osp.join(img_dir, r['file_name']): r for r in chosen}
    predictions, written = [], []
    for path, sample in predict_files(model, list(gt_by_path), batch_size=4):
        if isinstance(sample, Exception):  # an unreadable image: its one-line ImageReadError
            raise sample
        gt = gt_by_path[path]
        pred = sample_to_record(gt['file_name'], sample, classes)
        predictions.append(pred)
        overlay = draw_gt_vs_pred(read_xray(path), gt, pred, classes, score_thr=score_thr)
        flat_name = osp.splitext(gt['file_name'])[0].replace('/', '_')
        out = osp.join(out_dir, flat_name + '_gt_vs_pred.png')
        save_image(out, overlay)
        written.append(out)
    write_annotations(osp.join(out_dir, 'predictions.json'), predictions)
    return written


def resize_pipelines(cfg, image_size):
    """Make every ``Resize`` of ``cfg``'s data loaders resize to ``image_size`` square, the
    phantom images' size: the model then sees them as they are, not rescaled to the config's
    own size (the phantom config's 256). Returns ``cfg``, changed in place."""
    from tbmm.datasets.dataset_cfg import innermost_dataset, is_resize
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(loader) is None:
            continue
        for step in innermost_dataset(cfg[loader].dataset).pipeline:
            if is_resize(step):
                step['scale'] = (image_size, image_size)
    return cfg


def write_dataset_statistics(ann_file, out_dir):
    """Per-class counts, box sizes and the class co-occurrence heatmap of ``ann_file``."""
    from tbmm.analysis.stats import dataset_statistics, format_statistics
    from tbmm.datasets.annotations import read_annotations
    from tbmm.visualization.heatmap import plot_count_matrix

    os.makedirs(out_dir, exist_ok=True)
    stats = dataset_statistics(read_annotations(ann_file), list(DEFAULT_CLASSES))
    with open(osp.join(out_dir, 'stats.txt'), 'w', encoding='utf-8') as f:
        f.write(format_statistics(stats) + '\n')
    heatmap = osp.join(out_dir, 'cooccurrence.png')
    plot_count_matrix(stats['cooccurrence']['matrix'], stats['classes'], heatmap,
                      f'Images with both classes ({osp.basename(ann_file)})')
    return heatmap


def write_learning_curves(work_dir):
    """Loss, learning rate and per-class validation curves of the run in ``work_dir``."""
    from tbmm.analysis.curves import plot_training_curves, read_training_log
    return plot_training_curves(read_training_log(work_dir), osp.join(work_dir, 'curves'))


def run_demo(data_root='data/phantom', work_dir='work_dirs/demo', config=PHANTOM_CONFIG,
             num_train=500, num_test=80, image_size=256, seed=0, max_epochs=None, bf16=None,
             cfg_options=None, phantom_options=None):
    """Phantom data -> train -> test -> overlays. ``bf16=None`` uses bfloat16 autocast where the
    CPU has bfloat16 hardware (AMX / AVX512-BF16), about 1.5x faster there; float32 elsewhere.
    ``image_size``: the phantom images' size and the model's input size (:func:`resize_pipelines`).
    ``cfg_options`` change the config for training and testing alike (e.g. the model);
    ``phantom_options`` replace the phantom set's recipe (default ``DEMO_PHANTOM_OPTIONS``)."""
    from tbmm.apis import prepare_test_config, prepare_train_config, run_test, run_train
    from tbmm.evaluation import format_table

    start = time.time()
    ensure_phantom_dataset(data_root, num_train, num_test, image_size, seed,
                           options=phantom_options or DEMO_PHANTOM_OPTIONS, say=_say)
    common_options = {f'{split}_dataloader.dataset.data_root': data_root.rstrip('/') + '/'
                      for split in ('train', 'val', 'test')}
    common_options.update(cfg_options or {})
    options = dict(common_options)
    if max_epochs is not None:
        options['train_cfg.max_epochs'] = max_epochs
    options['randomness'] = dict(seed=seed)
    if bf16 is None:
        from tbmm.engine.optimizers import cpu_has_fast_bf16
        bf16 = cpu_has_fast_bf16()
    if bf16:
        options['optim_wrapper.type'] = 'BF16AutocastOptimWrapper'

    _say(f'training {osp.relpath(config)} on CPU ({"bfloat16" if bf16 else "float32"}) '
         f'-> {work_dir}')
    cfg = resize_pipelines(prepare_train_config(config, work_dir=work_dir, cfg_options=options),
                           image_size)
    run_train(cfg)
    checkpoint = find_last_checkpoint(work_dir)

    _say(f'evaluating {checkpoint} on the phantom test set')
    cfg = resize_pipelines(prepare_test_config(config, checkpoint, work_dir=work_dir,
                                               cfg_options=common_options), image_size)
    metrics, result = run_test(cfg)
    # Intervals, error analysis with galleries, curves and statistics on one page; the table
    # then shows the intervals.
    from tbmm.evaluation.report_page import write_test_report
    report = write_test_report(cfg, osp.join(work_dir, 'test'),
                               title='tbmm demo: RetinaNet-R18 on the phantom test set')
    with open(osp.join(work_dir, 'test.metrics.json')) as f:
        table = format_table(json.load(f))

    curves = write_learning_curves(work_dir)
    heatmap = write_dataset_statistics(osp.join(data_root, 'annotation', 'train.json'),
                                       osp.join(work_dir, 'dataset_stats'))
    overlay_dir = osp.join(work_dir, 'overlays')
    overlays = write_overlays(cfg, checkpoint, osp.join(data_root, 'annotation', 'test.json'),
                              osp.join(data_root, 'test_data'), overlay_dir)
    print(table)
    _say(f'done in {(time.time() - start) / 60:.1f} min')
    print(f'  phantom data:   {data_root}/ (annotation/, train_data/, test_data/)')
    print(f'  training log:   {work_dir}/<timestamp>/ (scalars in vis_data/scalars.json)')
    print(f'  checkpoint:     {checkpoint}')
    print(f'  report:         {report} (one page: metrics, errors, galleries, curves)')
    print(f'  metrics JSON:   {work_dir}/test.metrics.json (FROC curve: test.froc.png)')
    print(f'  overlays:       {overlay_dir}/ ({len(overlays)} PNGs, ground truth | prediction)')
    print(f'  predictions:    {overlay_dir}/predictions.json (test images, not trained on)')
    print(f'  curves:         {work_dir}/curves/ ({", ".join(osp.basename(c) for c in curves)})')
    print(f'  data set stats: {osp.dirname(heatmap)}/ (stats.txt, {osp.basename(heatmap)})')
    return metrics


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='tbmm demo: phantom data -> train -> test -> overlays')
    parser.add_argument('--data-root', default='data/phantom')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--num-train', type=int, default=500)
    parser.add_argument('--num-test', type=int, default=80)
    parser.add_argument('--image-size', type=int, default=256,
                        help="the phantom images' size, which the model trains and tests at")
    parser.add_argument('--epochs', type=int, help='override the phantom config\'s epochs')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--precision', choices=['auto', 'float32', 'bfloat16'], default='auto',
                        help='auto: bfloat16 autocast where the CPU has bfloat16 hardware')
    args = parser.parse_args(argv)
    run_demo(data_root=args.data_root, work_dir=args.work_dir, num_train=args.num_train,
             num_test=args.num_test, image_size=args.image_size, seed=args.seed,
             max_epochs=args.epochs,
             bf16=None if args.precision == 'auto' else args.precision == 'bfloat16')
    return 0


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
