"""tools/analysis_tools/browse_dataset.py: ground truth drawn on the images the pipeline
produces."""
import importlib.util
import os.path as osp

import cv2
import numpy as np
import pytest

from tbmm.apis.runner import load_config
from tbmm.datasets.annotations import read_annotations
from tbmm.visualization import class_color

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PHANTOM = osp.join(REPO_ROOT, 'configs', 'tb_retinanet', 'phantom', 'retinanet_r18_fpn_phantom.py')


@pytest.fixture(scope='module')
def phantom_root(tmp_path_factory):
    from tbmm.datasets.phantom import make_phantom_dataset

    root = tmp_path_factory.mktemp('phantom_browse')
    make_phantom_dataset(str(root), num_train=3, num_test=3, image_size=128, seed=5)
    return root


def browse(argv):
    spec = importlib.util.spec_from_file_location(
        'tool_browse_dataset', osp.join(REPO_ROOT, 'tools', 'analysis_tools', 'browse_dataset.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from tbmm.utils import run_cli
    return run_cli(module.main, argv)


def right_edge_colour_share(overlay, box, colour):
    """Share of the box's right edge drawn in ``colour`` (labels sit at the top, not there)."""
    x2, y1, y2 = (int(round(v)) for v in (box[2], box[1], box[3]))
    x2 = min(x2, overlay.shape[1] - 1)
    edge = overlay[y1 + 2:min(y2, overlay.shape[0] - 1), x2]
    return np.mean(np.all(edge == colour, axis=1))


@pytest.mark.parametrize('split', ['train', 'test'])
def test_overlays_show_boxes_where_the_resized_image_has_them(phantom_root, tmp_path, split):
    out = tmp_path / split
    argv = [PHANTOM, '--out-dir', str(out), '--num', '5', '--split', split, '--cfg-options',
            f'{split}_dataloader.dataset.data_root={phantom_root}/']
    if split == 'train':  # no random flip, so the boxes' places are known
        pipeline = load_config(PHANTOM).train_dataloader.dataset.pipeline
        flip = next(i for i, t in enumerate(pipeline) if t['type'] == 'RandomFlip')
        argv.append(f'train_dataloader.dataset.pipeline.{flip}.prob=0.0')
    assert browse(argv) == 0
    ann = 'train.json' if split == 'train' else 'test.json'
    records = read_annotations(phantom_root / 'annotation' / ann)
    written = sorted(p.name for p in out.iterdir())
    assert written == [f'{i:05d}_{osp.splitext(r["file_name"])[0]}.png'
                       for i, r in enumerate(records)]  # 3 images although 5 were asked for
    for index, record in enumerate(records):
        overlay = cv2.cvtColor(cv2.imread(str(out / written[index])), cv2.COLOR_BGR2RGB)
        # The config's input size, not the file's 128, plus the legend's panel on the right.
        assert overlay.shape[0] == 256 and overlay.shape[1] > 256
        overlay = overlay[:, :256]
        for name, box in zip(record['syms'], record['boxes']):
            # Train boxes are resized by the pipeline, test boxes (loaded after Resize) by us.
            scaled = [2 * v for v in box]
            assert right_edge_colour_share(overlay, scaled, class_color(name)) > 0.5, (split, box)


def test_unknown_split_data_is_one_error_line(tmp_path, capsys):
    argv = [PHANTOM, '--out-dir', str(tmp_path), '--cfg-options',
            f'train_dataloader.dataset.data_root={tmp_path}/nowhere/']
    assert browse(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('error: ')
