"""tools/infer.py, tbmm.apis.inference and tbmm.apis.folder_inference: folders of PNG/JPEG/DICOM in,
predictions and overlays out, unreadable files reported; flip TTA merged with weighted boxes
fusion (the fusion itself: tests/models/test_wbf_tta.py)."""
import importlib
import json
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from tbmm.datasets.annotations import read_annotations
from tbmm.datasets.image_io import read_xray
from tbmm.evaluation.functional import evaluate_records
from tests.helpers import save_untrained_phantom_checkpoint, write_dicom

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PHANTOM = osp.join(REPO_ROOT, 'configs', 'tb_retinanet', 'phantom', 'retinanet_r18_fpn_phantom.py')


def _resize_key():
    from tbmm.apis.runner import load_config

    pipeline = load_config(PHANTOM).test_dataloader.dataset.pipeline
    index = next(i for i, t in enumerate(pipeline) if t['type'] == 'Resize')
    return f'test_dataloader.dataset.pipeline.{index}.scale'


# The phantom test images are 96 px: the network gets them at that size (not the config's 256),
# which keeps the CPU time small.
SMALL_INPUT = {_resize_key(): (96, 96)}
# Also few detections per image, so the overlay checks can find each drawn box.
CLI_OPTIONS = ['--cfg-options', f'{_resize_key()}=(96,96)', 'model.test_cfg.max_per_img=3']


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """An untrained phantom-config detector whose classifier bias is 0, so it returns boxes
    scoring about 0.5 (the default prior bias gives ~0.01, below the test score threshold)."""
    return save_untrained_phantom_checkpoint(
        PHANTOM, tmp_path_factory.mktemp('ckpt') / 'phantom_untrained.pth')


@pytest.fixture(scope='module')
def phantom_images(tmp_path_factory):
    from tbmm.datasets.phantom import make_phantom_dataset

    root = tmp_path_factory.mktemp('phantom_infer')
    make_phantom_dataset(str(root), num_train=1, num_test=3, image_size=96, seed=3)
    records = read_annotations(root / 'annotation' / 'test.json')
    return root / 'test_data', records


def write_monochrome1_dicom(path, gray):
    """``gray`` (uint8) stored as 12-bit MONOCHROME1: bright in the file where it is dark."""
    write_dicom(path, (255 - gray.astype(np.uint16)) * 16, photometric='MONOCHROME1')


@pytest.fixture(scope='module')
def infer_run(tmp_path_factory, checkpoint, phantom_images):
    """One run of the CLI over a folder holding every kind of input, and the folder."""
    pytest.importorskip('pydicom')
    img_dir, records = phantom_images
    names = [r['file_name'] for r in records]
    folder = tmp_path_factory.mktemp('infer_in')
    gray = [cv2.imread(str(img_dir / n), cv2.IMREAD_GRAYSCALE) for n in names]
    cv2.imwrite(str(folder / 'plain.png'), gray[0])
    cv2.imwrite(str(folder / 'deep16.png'), gray[1].astype(np.uint16) * 257)  # 16-bit PNG
    (folder / 'sub').mkdir()
    write_monochrome1_dicom(str(folder / 'sub' / 'mono1.dcm'), gray[2])
    (folder / 'broken.png').write_bytes(b'not a png at all')
    (folder / 'notes.txt').write_text('not an image, skipped')
    out = tmp_path_factory.mktemp('infer_out')
    proc = subprocess.run(
        [sys.executable, 'tools/infer.py', PHANTOM, checkpoint, str(folder), '--out-dir', str(out),
         '--batch-size', '2', '--score-thr', '0.3', '--no-progress', *CLI_OPTIONS],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    return proc, folder, out, dict(zip(['plain', 'deep16', 'mono1'], gray))


def test_infer_reports_unreadable_files_and_predicts_the_others(infer_run):
    proc, _, out, _ = infer_run
    assert proc.returncode == 0, proc.stderr
    assert '3 of 4 image(s) predicted' in proc.stdout
    assert '1 file(s) could not be read' in proc.stderr and 'broken.png' in proc.stderr
    assert 'skipped 1 file(s)' in proc.stdout  # notes.txt
    assert 'precision:   float32' in proc.stdout  # the phantom config does not ask for autocast
    assert (out / 'unreadable.txt').read_text().startswith('broken.png\t')


def test_predictions_round_trip_through_the_evaluation(infer_run):
    _, _, out, _ = infer_run
    preds = read_annotations(out / 'predictions.json', require_scores=True)
    # file_name: relative to the input folder, subfolders kept.
    assert [p['file_name'] for p in preds] == ['deep16.png', 'plain.png', 'sub/mono1.dcm']
    for pred in preds:
        assert 0 < len(pred['boxes']) <= 3
        assert pred['abnormal_score'] == max(pred['scores'])
        assert pred['scores'] == sorted(pred['scores'], reverse=True)
    # Scored against themselves as ground truth, every detection is a hit: AP50 1 per class.
    gt = [{'file_name': p['file_name'], 'syms': p['syms'], 'boxes': p['boxes']} for p in preds]
    result = evaluate_records(gt, preds)
    assert result['images']['n_pred_files_not_in_gt'] == 0
    assert result['overall']['n_det'] == sum(len(p['boxes']) for p in preds)
    for name in {s for p in preds for s in p['syms']}:
        assert result['per_class'][name]['ap50'] == pytest.approx(1.0), name


def test_overlays_show_the_boxes_on_the_input_and_dicom_is_inverted(infer_run):
    _, folder, out, gray = infer_run
    preds = {p['file_name']: p for p in read_annotations(out / 'predictions.json')}
    for name, overlay_name, source in (('plain.png', 'plain.png', 'plain'),
                                       ('deep16.png', 'deep16.png', 'deep16'),
                                       ('sub/mono1.dcm', 'sub/mono1.png', 'mono1')):
        overlay = cv2.cvtColor(cv2.imread(str(out / 'overlays' / overlay_name)), cv2.COLOR_BGR2RGB)
        image = read_xray(str(folder / name))
        # The image at its own coordinates, the title and legend in a panel on its right.
        assert overlay.shape[0] == image.shape[0] and overlay.shape[1] > image.shape[1]
        overlay = overlay[:, :image.shape[1]]
        changed = np.any(overlay != image, axis=2)
        height, width = changed.shape
        for box, score in zip(preds[name]['boxes'], preds[name]['scores']):
            if score < 0.3:
                continue
            x1, x2 = (min(max(int(round(v)), 0), width - 1) for v in box[0::2])
            y1, y2 = (min(max(int(round(v)), 0), height - 1) for v in box[1::2])
            # Left, right and bottom edges (the label may sit on the top one).
            edge = np.concatenate([changed[y1:y2 + 1, x1], changed[y1:y2 + 1, x2],
                                   changed[y2, x1:x2 + 1]])
            assert edge.mean() > 0.5, (name, box)
        # Away from the drawing the overlay is the input, as read_xray decodes it.
        assert 0.2 < (~changed).mean()
        assert np.array_equal(overlay[~changed], image[~changed])
    # MONOCHROME1 stores the image inverted; the overlay shows it the right way round (its
    # contrast stretched to the stored value range, hence correlation, not equality).
    undrawn = ~changed  # the last image of the loop is the DICOM
    overlay = cv2.imread(str(out / 'overlays' / 'sub' / 'mono1.png'),
                         cv2.IMREAD_GRAYSCALE)[:, :undrawn.shape[1]]
    assert np.corrcoef(overlay[undrawn], gray['mono1'][undrawn])[0, 1] > 0.99


def test_infer_fails_only_when_nothing_can_be_read(tmp_path, checkpoint, capsys):
    from tbmm.utils import run_cli

    folder = tmp_path / 'bad'
    folder.mkdir()
    (folder / 'a.png').write_bytes(b'')
    (folder / 'b.jpg').write_bytes(b'\xff\xd8\xff garbage')
    argv = [PHANTOM, checkpoint, str(folder), '--out-dir', str(tmp_path / 'out'), '--no-progress',
            *CLI_OPTIONS]
    assert run_cli(importlib.import_module('tools.infer').main, argv) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith('error:')]
    assert len(errors) == 1 and 'none of the 2 image file(s) could be read' in errors[0]
    assert (tmp_path / 'out' / 'unreadable.txt').read_text().count('\n') == 2


def test_infer_rejects_a_missing_input_in_one_line(tmp_path, checkpoint, capsys):
    from tbmm.utils import run_cli

    argv = [PHANTOM, checkpoint, str(tmp_path / 'nowhere'), '--out-dir', str(tmp_path / 'out')]
    assert run_cli(importlib.import_module('tools.infer').main, argv) == 2
    expected = f'error: {tmp_path / "nowhere"}: no such file or folder'
    assert capsys.readouterr().err.strip() == expected


def test_find_images_names_files_relative_to_folder_glob_or_as_basename(tmp_path):
    from tbmm.apis.folder_inference import find_images, overlay_names

    (tmp_path / 'in' / 'deep').mkdir(parents=True)
    for name in ('a.png', 'b.JPG', 'deep/c.dcm', 'deep/a.dcm', 'skip.txt'):
        (tmp_path / 'in' / name).write_bytes(b'x')
    out_inside = tmp_path / 'in' / 'results'
    out_inside.mkdir()
    (out_inside / 'old_overlay.png').write_bytes(b'x')

    images, skipped = find_images(tmp_path / 'in', exclude_dirs=[out_inside])
    assert [name for _, name in images] == ['a.png', 'b.JPG', 'deep/a.dcm', 'deep/c.dcm']
    assert skipped == 1
    images, _ = find_images(str(tmp_path / 'in' / 'deep' / 'c.dcm'))
    assert images == [(str(tmp_path / 'in' / 'deep' / 'c.dcm'), 'c.dcm')]
    images, _ = find_images(str(tmp_path / 'in') + '/**/*.dcm')
    assert [name for _, name in images] == ['deep/a.dcm', 'deep/c.dcm']
    with pytest.raises(FileNotFoundError):
        find_images(tmp_path / 'missing')
    # Same stem, different suffix: neither overlay overwrites the other.
    assert overlay_names(['x.png', 'x.dcm', 'y.dcm']) == {
        'x.png': 'x_png.png', 'x.dcm': 'x_dcm.png', 'y.dcm': 'y.png'}


def test_infer_with_tta_on_a_single_file(tmp_path, checkpoint, phantom_images):
    from tbmm.apis.folder_inference import run_inference

    img_dir, records = phantom_images
    path = img_dir / records[0]['file_name']
    summary = run_inference(PHANTOM, checkpoint, str(path), tmp_path / 'out', tta=True,
                            cfg_options=SMALL_INPUT, progress=False)
    assert summary.n_predicted == 1 and not summary.failures
    (pred, ) = read_annotations(tmp_path / 'out' / 'predictions.json', require_scores=True)
    assert pred['file_name'] == records[0]['file_name'] and pred['boxes']
    assert osp.isfile(tmp_path / 'out' / 'overlays' / pred['file_name'])


def test_mixed_precision_inference_runs_the_network_under_autocast(checkpoint, phantom_images,
                                                                   monkeypatch, tmp_path):
    from tbmm.apis.folder_inference import run_inference
    from tbmm.apis.inference import init_model, iter_predictions
    from tbmm.engine.optimizers import bf16_autocast

    img_dir, records = phantom_images
    paths = [str(img_dir / r['file_name']) for r in records]
    model = init_model(PHANTOM, checkpoint, cfg_options=SMALL_INPUT)
    seen = []
    model.backbone.register_forward_hook(
        lambda module, args, out: seen.append((torch.is_autocast_enabled('cpu'), out[-1].dtype)))
    (fp32, ) = [r.sample for r in iter_predictions(model, paths[:1])]
    (bf16, ) = [r.sample for r in iter_predictions(model, paths[:1],
                                                   autocast_dtype=torch.bfloat16)]
    assert seen == [(False, torch.float32), (True, torch.bfloat16)]
    # The head hands float32 maps on, so boxes are decoded in float32 (not bfloat16's 4-8 px steps
    # at 512-1024 px).
    assert bf16.pred_instances.bboxes.dtype == torch.float32 == fp32.pred_instances.bboxes.dtype

    monkeypatch.setattr(bf16_autocast, 'cpu_has_fast_bf16', lambda: True)
    summary = run_inference(PHANTOM, checkpoint, paths[0], tmp_path / 'on', amp=True,
                            cfg_options=SMALL_INPUT, progress=False)
    assert summary.precision == 'bfloat16 autocast' and summary.precision_notice is None
    assert summary.n_predicted == 1
    monkeypatch.setattr(bf16_autocast, 'cpu_has_fast_bf16', lambda: False)
    summary = run_inference(PHANTOM, checkpoint, paths[0], tmp_path / 'off', amp=True,
                            cfg_options=SMALL_INPUT, progress=False)
    assert summary.precision == 'float32' and 'no bfloat16 hardware' in summary.precision_notice


def test_test_config_with_tta_evaluates_through_the_runner(tmp_path, checkpoint, phantom_images):
    """What tools/test.py --tta does: the runner loads the plain checkpoint into the TTA wrapper."""
    from tbmm.apis import prepare_test_config, run_test
    from tbmm.apis.inference import apply_tta_config

    img_dir, _ = phantom_images
    root = str(img_dir.parent) + '/'
    cfg = prepare_test_config(PHANTOM, checkpoint, work_dir=str(tmp_path), cfg_options={
        'test_dataloader.dataset.data_root': root, 'test_dataloader.num_workers': 0,
        'test_dataloader.persistent_workers': False, 'test_dataloader.batch_size': 2,
        **SMALL_INPUT})
    apply_tta_config(cfg)
    assert cfg.model.type == 'WBFTTAModel'
    assert cfg.test_dataloader.dataset.pipeline[-1]['type'] == 'TestTimeAug'
    metrics, result = run_test(cfg)
    assert 'chestxdet/mAP50' in metrics
    assert result['images']['n_images'] == 3
    saved = json.loads((tmp_path / 'test.metrics.json').read_text())
    assert saved['images']['n_images'] == 3


def test_plain_checkpoint_loads_into_the_tta_wrapper(checkpoint):
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    from mmengine.runner.checkpoint import load_checkpoint

    from tbmm.apis.runner import load_config

    init_default_scope('mmdet')
    wrapper = MODELS.build(dict(type='WBFTTAModel', module=load_config(PHANTOM).model))
    load_checkpoint(wrapper, checkpoint, strict=True)  # keys without the wrapper's "module."
    saved = torch.load(checkpoint, weights_only=True)['state_dict']
    assert torch.equal(wrapper.module.bbox_head.retina_cls.bias, saved['bbox_head.retina_cls.bias'])
    assert torch.equal(wrapper.module.backbone.conv1.weight, saved['backbone.conv1.weight'])


def test_checkpoint_without_class_names_gets_the_configs(tmp_path, checkpoint):
    from tbmm.apis.inference import init_model

    bare = tmp_path / 'bare.pth'
    torch.save({'state_dict': torch.load(checkpoint, weights_only=True)['state_dict']}, bare)
    model = init_model(PHANTOM, str(bare))  # mmdet alone would fall back to the 80 COCO names
    assert len(model.dataset_meta['classes']) == 9
    assert model.dataset_meta['classes'][0] == 'Consolidation'


def test_checkpoint_and_config_without_fitting_classes_is_one_error_line(tmp_path, checkpoint,
                                                                          capsys):
    from tbmm.utils import run_cli

    # Four class names in the checkpoint and none in the config that fit the model's 9 outputs.
    four = tmp_path / 'four_classes.pth'
    saved = torch.load(checkpoint, weights_only=True)
    saved['meta']['dataset_meta']['classes'] = ('A', 'B', 'C', 'D')
    torch.save(saved, four)
    (tmp_path / 'x.png').write_bytes(b'x')
    argv = [PHANTOM, str(four), str(tmp_path / 'x.png'), '--out-dir', str(tmp_path / 'out'),
            '--cfg-options', 'test_dataloader.dataset.metainfo.classes=[A,B,C,D]']
    assert run_cli(importlib.import_module('tools.infer').main, argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f'error: {four}: the checkpoint names 4 classes ')
    assert '\n' not in err


def test_infer_into_its_input_folder_does_not_read_its_own_overlays(tmp_path, checkpoint,
                                                                    phantom_images):
    from tbmm.utils import run_cli

    img_dir, records = phantom_images
    scans = tmp_path / 'scans'
    scans.mkdir()
    (scans / 'a.png').write_bytes((img_dir / records[0]['file_name']).read_bytes())
    argv = [PHANTOM, checkpoint, str(scans), '--out-dir', str(scans), '--no-progress',
            *CLI_OPTIONS]
    infer = importlib.import_module('tools.infer').main
    for _ in range(2):  # the second run finds the first one's overlays/a.png in the folder
        assert run_cli(infer, argv) == 0
        preds = read_annotations(scans / 'predictions.json', require_scores=True)
        assert [p['file_name'] for p in preds] == ['a.png']
    assert not (scans / 'overlays' / 'overlays').exists()


def test_checkpoint_of_another_model_is_refused(checkpoint):
    from tbmm.apis.inference import init_model
    from tbmm.checkpoint import CheckpointMismatchError

    main = osp.join(REPO_ROOT, 'configs', 'tb_retinanet', 'retinanet_r101_fpn_10e_chestxdet.py')
    with pytest.raises(CheckpointMismatchError,
                       match='does not fit the config.s model: .* missing'):
        init_model(main, checkpoint)  # an R-18 checkpoint for the R-101 config
    # The fast config's folded BatchNorm and channels_last keep the plain model's weights.
    fast = osp.join(REPO_ROOT,
                    'configs/tb_retinanet/phantom/retinanet_r18_fpn_phantom_fast_bf16.py')
    assert init_model(fast, checkpoint).dataset_meta['classes'][0] == 'Consolidation'


def test_a_pipeline_bug_stops_infer_instead_of_being_reported_as_unreadable(
        tmp_path, checkpoint, phantom_images, monkeypatch):
    # Only unreadable files (ImageReadError) are reported and skipped; before, any exception of
    # the pipeline became an "unreadable file" and the run exited 0 with the others predicted.
    from mmdet.datasets.transforms import PackDetInputs

    from tbmm.utils import run_cli
    img_dir, records = phantom_images
    folder = tmp_path / 'in'
    folder.mkdir()
    for name in ('a.png', 'b.png'):
        (folder / name).write_bytes((img_dir / records[0]['file_name']).read_bytes())
    pack = PackDetInputs.transform

    def buggy(self, results):
        if results['img_path'].endswith('b.png'):
            raise RuntimeError('a bug in a transform')
        return pack(self, results)

    monkeypatch.setattr(PackDetInputs, 'transform', buggy)
    argv = [PHANTOM, checkpoint, str(folder), '--out-dir', str(tmp_path / 'out'), '--no-progress',
            *CLI_OPTIONS]
    with pytest.raises(RuntimeError, match='a bug in a transform'):
        run_cli(importlib.import_module('tools.infer').main, argv)
    assert not (tmp_path / 'out' / 'predictions.json').exists()


def test_infer_counts_dicom_files_with_a_malformed_window(tmp_path, checkpoint, phantom_images,
                                                          capsys):
    pytest.importorskip('pydicom')
    from tbmm.utils import run_cli
    img_dir, records = phantom_images
    gray = cv2.imread(str(img_dir / records[0]['file_name']), cv2.IMREAD_GRAYSCALE)
    folder = tmp_path / 'in'
    folder.mkdir()
    stored = gray.astype(np.uint16) * 16
    for name in ('bad1.dcm', 'bad2.dcm'):  # window width 0: not a usable window
        write_dicom(str(folder / name), stored, WindowCenter=2048, WindowWidth=0)
    write_dicom(str(folder / 'good.dcm'), stored, WindowCenter=2048, WindowWidth=4096)
    argv = [PHANTOM, checkpoint, str(folder), '--out-dir', str(tmp_path / 'out'), '--no-progress',
            *CLI_OPTIONS]
    assert run_cli(importlib.import_module('tools.infer').main, argv) == 0
    captured = capsys.readouterr()
    assert '3 of 3 image(s) predicted' in captured.out
    lines = [line for line in captured.err.splitlines() if 'malformed window/LUT' in line]
    assert len(lines) == 1, captured.err
    assert lines[0].startswith('2 DICOM file(s) with a malformed window/LUT, read with their '
                               f'value range stretched instead (first: {folder / "bad1.dcm"}: ')
    assert 'Window Width must be greater than or equal to 1' in lines[0]
