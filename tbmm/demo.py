"""The end-to-end demo behind ``make demo``: phantom data → train → test → overlays, on CPU.

Every step calls the same functions as the tools, so the demo also shows how to use them.
"""
import glob
import json
import os
import os.path as osp
import time

from tbmm.classes import DEFAULT_CLASSES

PHANTOM_CONFIG = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                          'configs', 'tb_retinanet', 'phantom', 'retinanet_r18_fpn_phantom.py')


def _say(msg):
    print(f'[demo {time.strftime("%H:%M:%S")}] {msg}', flush=True)


def ensure_phantom_dataset(data_root, num_train, num_test, image_size, seed):
    """Generate the phantom data set unless one with the same parameters is already there."""
    from tbmm.datasets.phantom import make_phantom_dataset

    params = dict(num_train=num_train, num_test=num_test, image_size=image_size, seed=seed)
    stamp = osp.join(data_root, 'phantom_params.json')
    if osp.isfile(stamp):
        with open(stamp) as f:
            if json.load(f) == params:
                _say(f'phantom data set already in {data_root} ({num_train} train / {num_test} test)')
                return
    _say(f'writing phantom data set to {data_root} ({num_train} train / {num_test} test, '
         f'{image_size}x{image_size})')
    make_phantom_dataset(data_root, **params)
    with open(stamp, 'w') as f:
        json.dump(params, f)


def find_best_checkpoint(work_dir):
    """The best-by-validation checkpoint if the run kept one, else the last one."""
    best = sorted(glob.glob(osp.join(work_dir, 'best_*.pth')), key=osp.getmtime)
    if best:
        return best[-1]
    last = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(last):
        with open(last) as f:
            return f.read().strip()
    raise FileNotFoundError(f'no checkpoint in {work_dir}')


def write_overlays(config, checkpoint, ann_file, img_dir, out_dir, num_images=6, score_thr=0.3):
    """Ground truth vs prediction overlays for the first ``num_images`` records of ``ann_file``."""
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
    gt_by_name = {r['file_name']: r for r in chosen}
    paths = [osp.join(img_dir, r['file_name']) for r in chosen]
    predictions, written = [], []
    for path, sample in predict_files(model, paths, batch_size=4):
        name = osp.basename(path)
        pred = sample_to_record(name, sample, classes)
        predictions.append(pred)
        overlay = draw_gt_vs_pred(read_xray(path), gt_by_name[name], pred, classes,
                                  score_thr=score_thr)
        out = osp.join(out_dir, osp.splitext(name)[0] + '_gt_vs_pred.png')
        save_image(out, overlay)
        written.append(out)
    write_annotations(osp.join(out_dir, 'predictions.json'), predictions)
    return written


def run_demo(data_root='data/phantom', work_dir='work_dirs/demo', config=PHANTOM_CONFIG,
             num_train=300, num_test=60, image_size=256, seed=0, max_epochs=None):
    from tbmm.apis import prepare_test_config, prepare_train_config, run_test, run_train
    from tbmm.evaluation import format_table

    start = time.time()
    ensure_phantom_dataset(data_root, num_train, num_test, image_size, seed)
    root_options = {f'{split}_dataloader.dataset.data_root': data_root.rstrip('/') + '/'
                    for split in ('train', 'val', 'test')}
    options = dict(root_options)
    if max_epochs is not None:
        options['train_cfg.max_epochs'] = max_epochs
    options['randomness'] = dict(seed=seed)

    _say(f'training {osp.relpath(config)} on CPU -> {work_dir}')
    cfg = prepare_train_config(config, work_dir=work_dir, cfg_options=options)
    run_train(cfg)
    checkpoint = find_best_checkpoint(work_dir)

    _say(f'evaluating {checkpoint} on the phantom test set')
    cfg = prepare_test_config(config, checkpoint, work_dir=work_dir, cfg_options=root_options)
    metrics, result = run_test(cfg)
    table = format_table(result)

    overlay_dir = osp.join(work_dir, 'overlays')
    overlays = write_overlays(config, checkpoint, osp.join(data_root, 'annotation', 'test.json'),
                              osp.join(data_root, 'test_data'), overlay_dir)
    print(table)
    _say(f'done in {(time.time() - start) / 60:.1f} min')
    print(f'  phantom data:   {data_root}/ (annotation/, train_data/, test_data/)')
    print(f'  training log:   {work_dir}/<timestamp>/ (scalars in vis_data/scalars.json)')
    print(f'  checkpoint:     {checkpoint}')
    print(f'  metrics JSON:   {work_dir}/test.metrics.json (FROC curve: test.froc.png)')
    print(f'  overlays:       {overlay_dir}/ ({len(overlays)} PNGs, ground truth | prediction)')
    print(f'  predictions:    {overlay_dir}/predictions.json')
    return metrics


__all__ = ['run_demo', 'DEFAULT_CLASSES']
