"""tools/dataset_converters/convert.py and tools/dataset_converters/resize_dataset.py: outputs,
printed counts, one-line errors."""
import importlib
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tbmm.datasets.annotations import read_annotations
from tbmm.utils import run_cli

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / 'tests' / 'fixtures'
NIH_SAMPLE = FIXTURES / 'nih_bbox' / 'bbox_list_sample.csv'
CONVERT = importlib.import_module('tools.dataset_converters.convert')
RESIZE = importlib.import_module('tools.dataset_converters.resize_dataset')


def error_line(tool, argv, capsys):
    """The single stderr line of a failed run (exit status 2)."""
    assert run_cli(tool.main, argv) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith('error: ') and 'Traceback' not in err
    return err.strip()


def test_nih_command_writes_the_providers_file(tmp_path, capsys):
    out = tmp_path / 'nih8.json'
    assert CONVERT.main(['nih', str(NIH_SAMPLE), '--scale', '0.5', '--out', str(out),
                         '--classes', 'nih8']) == 0
    assert json.loads(out.read_text()) == json.loads(
        (FIXTURES / 'nih_bbox' / 'nih8_sample.json').read_text())
    printed = capsys.readouterr().out
    assert '9 images (0 negatives), 14 boxes (Atelectasis: 2, Cardiomegaly: 1' in printed
    assert f'wrote 9 images -> {out}' in printed


def test_nih_command_images_folder_counts(tmp_path, capsys):
    images = tmp_path / 'images'
    images.mkdir()
    for name in ('00013118_008.png', '00001688_000.png', 'normal.png'):
        cv2.imwrite(str(images / name), np.zeros((512, 512), np.uint8))
    out = tmp_path / 'out.json'
    line = error_line(CONVERT, ['nih', str(NIH_SAMPLE), '--scale', '0.5', '--images', str(images),
                                '--out', str(out)], capsys)
    # The first CSV image not in the folder, by CSV row.
    assert line == (f"error: {NIH_SAMPLE}: row 3: image {images / '00018427_004.png'} is not "
                    'there (--skip-missing skips such images)')
    assert not out.exists()
    assert CONVERT.main(['nih', str(NIH_SAMPLE), '--scale', '0.5', '--images', str(images),
                         '--skip-missing', '--negatives-from-images', '--out', str(out)]) == 0
    printed = capsys.readouterr().out
    assert '3 images (1 negatives), 2 boxes' in printed
    assert f'images of the CSV missing in {images}, skipped: 7' in printed
    assert f'boxes of the images missing in {images}, skipped: 12' in printed
    assert f'images in {images} without a box, added as negatives: 1 (e.g. normal.png)' in printed
    assert [r['file_name'] for r in read_annotations(out)] == [
        '00001688_000.png', '00013118_008.png', 'normal.png']


def test_usage_mistakes(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        CONVERT.main(['nih', str(NIH_SAMPLE), '--out', str(tmp_path / 'o.json'), '--classes',
                      'nih9'])
    assert exit_.value.code == 2
    assert "unknown class preset 'nih9'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        CONVERT.main(['nih', str(NIH_SAMPLE), '--out', str(tmp_path / 'o.json'), '--skip-missing'])
    assert 'need --images DIR' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        CONVERT.main(['nih', str(NIH_SAMPLE), '--out', str(NIH_SAMPLE)])
    assert '--out must not be the input file' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        CONVERT.main(['to-coco', str(NIH_SAMPLE), '--out', str(tmp_path / 'c.json')])
    assert 'one of the arguments --image-size --images is required' in capsys.readouterr().err


def test_bad_csv_row_is_one_error_line_and_no_traceback(tmp_path):
    csv = tmp_path / 'bad.csv'
    csv.write_text('Image Index,Finding Label,Bbox [x,y,w,h],,,\n'
                   'a.png,Mass,10,20,30,40\na.png,Mass,10,20,oops,40\n')
    proc = subprocess.run([sys.executable, 'tools/dataset_converters/convert.py', 'nih', str(csv),
                           '--out', str(tmp_path / 'o.json')], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ''
    assert proc.stderr == f"error: {csv}: row 3 ('a.png'): w is not a finite number ('oops')\n"


def test_coco_round_trip_through_the_commands(tmp_path, capsys):
    ann, coco, back = tmp_path / 'ann.json', tmp_path / 'coco.json', tmp_path / 'back.json'
    ann.write_text((FIXTURES / 'chestxdet_sample.json').read_text())
    assert CONVERT.main(['to-coco', str(ann), '--out', str(coco), '--image-size', '1024', '1024',
                         '--classes', 'chestxdet13']) == 0
    printed = capsys.readouterr().out
    assert 'wrote 46 images, 71 annotations, 13 categories' in printed
    assert 'records whose "polygons" were not converted: 46' in printed  # counted, not silent
    data = json.loads(coco.read_text())
    assert [c['name'] for c in data['categories']][:3] == ['Atelectasis', 'Calcification',
                                                          'Cardiomegaly']
    assert CONVERT.main(['from-coco', str(coco), '--out', str(back)]) == 0
    assert '46 images (7 negatives), 71 boxes' in capsys.readouterr().out
    expected = [{k: r[k] for k in ('file_name', 'syms', 'boxes')} for r in read_annotations(ann)]
    assert read_annotations(back) == expected
    data['annotations'][3]['category_id'] = 99
    coco.write_text(json.dumps(data))
    line = error_line(CONVERT, ['from-coco', str(coco), '--out', str(back)], capsys)
    assert line == f'error: {coco}: annotations[3] (id 4): category_id 99 is not in "categories"'


def test_vinbigdata_command(tmp_path, capsys):
    csv = tmp_path / 'train.csv'
    csv.write_text('image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max\n'
                   'a,Nodule/Mass,8,R1,10,10,50,50\n'
                   'a,Nodule/Mass,8,R2,14,14,54,54\n'
                   'b,No finding,14,R1,,,,\n')
    out = tmp_path / 'out.json'
    assert CONVERT.main(['vinbigdata', str(csv), '--fuse', 'none', '--out', str(out)]) == 0
    assert '2 images (1 negatives), 2 boxes (Nodule/Mass: 2)' in capsys.readouterr().out
    assert read_annotations(out)[0]['boxes'] == [[10, 10, 50, 50], [14, 14, 54, 54]]
    pytest.importorskip('ensemble_boxes')
    assert CONVERT.main(['vinbigdata', str(csv), '--out', str(out)]) == 0
    assert 'reader boxes merged into another one by WBF: 1' in capsys.readouterr().out
    assert read_annotations(out)[0]['boxes'] == [[12, 12, 52, 52]]  # their mean


def test_vinbigdata_command_without_ensemble_boxes(tmp_path, capsys, monkeypatch):
    csv = tmp_path / 'train.csv'
    csv.write_text('image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max\n'
                   'a,Nodule/Mass,8,R1,10,10,50,50\n')
    monkeypatch.setitem(sys.modules, 'ensemble_boxes', None)
    line = error_line(CONVERT, ['vinbigdata', str(csv), '--out', str(tmp_path / 'o.json')],
                      capsys)
    assert 'needs the ensemble-boxes package' in line and '--fuse none' in line


# --- tools/dataset_converters/resize_dataset.py ---------------------------------------------------


def _dataset(tmp_path, images, boxes):
    img_dir = tmp_path / 'images'
    img_dir.mkdir()
    records = []
    for (name, pixels), box in zip(images.items(), boxes):
        cv2.imwrite(str(img_dir / name), pixels)
        records.append(dict(file_name=name, syms=['Mass'] if box else [],
                            boxes=[box] if box else []))
    ann = tmp_path / 'train.json'
    ann.write_text(json.dumps(records))
    return ann, img_dir


def test_resize_halves_image_and_box(tmp_path, capsys):
    bright = np.zeros((1024, 1024), np.uint8)
    bright[200:400, 300:600] = 255  # rows 200-399, columns 300-599: box [300, 200, 600, 400]
    deep = np.full((1024, 1024), 1000, np.uint16)
    deep[0:2, 0:2] = [[0, 4000], [60000, 65535]]  # one 2x2 block -> its mean, 32383.75 -> 32384
    colour = np.zeros((1024, 1024, 3), np.uint8)
    colour[..., 2] = 200
    ann, img_dir = _dataset(tmp_path, {'bright.png': bright, 'deep.png': deep, 'c.png': colour},
                            [[300, 200, 600, 400], None, [1, 3, 5, 7]])
    records = json.loads(ann.read_text())
    records[0]['polygons'] = [[[300, 200], [600, 200], [451, 400]]]  # ChestX-Det's outlines
    ann.write_text(json.dumps(records))
    out_dir = tmp_path / 'small'
    assert RESIZE.main([str(ann), str(img_dir), '--size', '512', '--out-dir', str(out_dir)]) == 0
    printed = capsys.readouterr().out
    assert '3 images (1 negatives), 2 boxes' in printed
    records = read_annotations(out_dir / 'train.json')
    assert records[0]['boxes'] == [[150, 100, 300, 200]]
    assert records[0]['polygons'] == [[[150, 100], [300, 100], [225.5, 200]]]
    assert records[2]['boxes'] == [[0.5, 1.5, 2.5, 3.5]]
    small = cv2.imread(str(out_dir / 'images' / 'bright.png'), cv2.IMREAD_UNCHANGED)
    assert small.shape == (512, 512) and small.dtype == np.uint8
    assert (small[100:200, 150:300] == 255).all()  # the rectangle is where the box says
    small[100:200, 150:300] = 0
    assert not small.any()  # and nowhere else
    small = cv2.imread(str(out_dir / 'images' / 'deep.png'), cv2.IMREAD_UNCHANGED)
    assert small.dtype == np.uint16 and small.shape == (512, 512)  # 16 bits stay 16 bits
    assert small[0, 0] == 32384 and small[0, 1] == 1000 and small[300, 300] == 1000
    small = cv2.imread(str(out_dir / 'images' / 'c.png'), cv2.IMREAD_UNCHANGED)
    assert small.shape == (512, 512, 3)
    assert (small[..., 2] == 200).all() and not small[..., :2].any()


def test_resize_keeps_aspect_of_non_square_images(tmp_path):
    wide = np.zeros((600, 1000), np.uint8)  # 1000 wide, 600 high -> 512 x round(600 * 0.512) = 307
    ann, img_dir = _dataset(tmp_path, {'w.jpg': wide}, [[100, 100, 500, 300]])
    assert RESIZE.main([str(ann), str(img_dir), '--size', '512', '--out-dir',
                        str(tmp_path / 'o')]) == 0
    record = read_annotations(tmp_path / 'o' / 'train.json')[0]
    assert record['file_name'] == 'w.png'  # written as PNG, counted in the summary
    small = cv2.imread(str(tmp_path / 'o' / 'images' / 'w.png'), cv2.IMREAD_UNCHANGED)
    assert small.shape == (307, 512)
    # x by 512 / 1000, y by 307 / 600 (the factors of the pixel grid)
    assert record['boxes'] == [[51.2, round(100 * 307 / 600, 2), 256.0, round(300 * 307 / 600, 2)]]


def test_resize_refusals_and_missing_images(tmp_path, capsys):
    ann, img_dir = _dataset(tmp_path, {'a.png': np.zeros((64, 64), np.uint8)}, [[1, 2, 3, 4]])
    records = json.loads(ann.read_text()) + [dict(file_name='gone.png', syms=[], boxes=[])]
    ann.write_text(json.dumps(records))
    line = error_line(RESIZE, [str(ann), str(img_dir), '--size', '32', '--out-dir',
                               str(img_dir)], capsys)
    assert 'must not be the image folder' in line
    line = error_line(RESIZE, [str(ann), str(img_dir), '--size', '32', '--out-dir',
                               str(img_dir / 'small')], capsys)
    assert 'must not be the image folder' in line
    out_dir = tmp_path / 'o'
    line = error_line(RESIZE, [str(ann), str(img_dir), '--size', '32', '--out-dir', str(out_dir)],
                      capsys)
    assert line == f"error: {ann}: record 1 ('gone.png'): {img_dir / 'gone.png'}: no such file"
    assert RESIZE.main([str(ann), str(img_dir), '--size', '32', '--out-dir', str(out_dir),
                        '--skip-missing']) == 0
    assert 'missing images, left out with their records: 1 (e.g. gone.png)' in \
        capsys.readouterr().out
    assert [r['file_name'] for r in read_annotations(out_dir / 'train.json')] == ['a.png']
    (img_dir / 'a.png').write_bytes(b'\x89PNG\r\n\x1a\n broken')
    line = error_line(RESIZE, [str(ann), str(img_dir), '--size', '32', '--out-dir', str(out_dir)],
                      capsys)
    assert line.startswith(f"error: {ann}: record 0 ('a.png'): {img_dir / 'a.png'}: ")
    line = error_line(RESIZE, [str(ann), str(img_dir), '--size', '128', '--out-dir',
                               str(out_dir)], capsys)
    assert 'record 0' in line
    cv2.imwrite(str(img_dir / 'a.png'), np.zeros((64, 64), np.uint8))
    line = error_line(RESIZE, [str(ann), str(img_dir), '--size', '128', '--out-dir',
                               str(out_dir), '--skip-missing'], capsys)
    assert line == (f"error: {ann}: record 0 ('a.png'): image {img_dir / 'a.png'} is 64x64, "
                    'smaller than 128: not upscaled')
