"""Converters to the annotation format: NIH's box CSV, COCO both ways, VinBigData with WBF.

Expected values are the data provider's (NIH sample) or worked out by hand in the comments, never
produced by the code under test.
"""
import json
import math
import random
import sys
from pathlib import Path

import pytest

from tbmm.classes import NIH8_CLASSES
from tbmm.datasets.annotations import read_annotations
from tbmm.datasets.convert import (
    ConversionError,
    convert_nih,
    convert_vinbigdata,
    from_coco,
    read_image_sizes,
    to_coco,
    write_coco,
)
from tbmm.datasets.convert.coco import _extent
from tbmm.errors import MissingExtraError

FIXTURES = Path(__file__).resolve().parents[1] / 'fixtures'
NIH_SAMPLE = FIXTURES / 'nih_bbox' / 'bbox_list_sample.csv'
NIH_HEADER = 'Image Index,Finding Label,Bbox [x,y,w,h],,,\n'


def write(path, text):
    path.write_text(text, encoding='utf-8')
    return path


def one_line(error):
    text = str(error.value)
    assert '\n' not in text
    return text


# --- NIH ------------------------------------------------------------------------------------------


def test_nih_sample_equals_the_providers_512_pixel_file():
    report = convert_nih(NIH_SAMPLE, scale=0.5)
    expected = json.loads((FIXTURES / 'nih_bbox' / 'nih8_sample.json').read_text())
    assert report.records == expected
    assert report.num_boxes == 14 and report.num_negatives == 0 and not report.notes


def test_nih_hand_made_boxes_order_and_trailing_empty_cells(tmp_path):
    # x, y, w, h -> x, y, x + w, y + h; the original NIH file ends rows with ",,,".
    csv = write(tmp_path / 'b.csv', NIH_HEADER + 'b.png,Mass,10,20,30,40,,,\n'
                'a.png,Nodule,100.25,200,50.5,20\n'
                '\n'
                'b.png,Effusion,0,0,1024,1024\n'
                'b.png,Atelectasis,10,20,30,40\n')
    records = convert_nih(csv, decimals=None).records
    assert records == [  # sorted by file name, boxes in CSV order
        dict(file_name='a.png', syms=['Nodule'], boxes=[[100.25, 200.0, 150.75, 220.0]]),
        dict(file_name='b.png', syms=['Mass', 'Effusion', 'Atelectasis'],
             boxes=[[10.0, 20.0, 40.0, 60.0], [0.0, 0.0, 1024.0, 1024.0],
                    [10.0, 20.0, 40.0, 60.0]])]
    # scale 0.5 and one decimal: 100.25 / 2 = 50.125 -> 50.1, 150.75 / 2 = 75.375 -> 75.4
    assert convert_nih(csv, scale=0.5).records[0]['boxes'] == [[50.1, 100.0, 75.4, 110.0]]


def test_nih_repeated_row_is_kept_once_and_counted(tmp_path):
    csv = write(tmp_path / 'b.csv', NIH_HEADER + 'a.png,Mass,10,20,30,40\n'
                'a.png,Mass,10,20,30,40\na.png,Nodule,10,20,30,40\n')
    report = convert_nih(csv)
    assert report.records[0]['syms'] == ['Mass', 'Nodule']  # another class: a second finding
    assert report.count('identical boxes of one class in one image, kept once') == 1
    assert 'kept once: 1 (e.g. row 3' in report.format()


@pytest.mark.parametrize('rows,message', [
    ('a.png,Mass,10,20,30\n', "row 2 ('a.png'): needs 6 values"),
    ('a.png,Mass,10,abc,30,40\n', "row 2 ('a.png'): y is not a finite number ('abc')"),
    ('a.png,Mass,10,20,nan,40\n', "row 2 ('a.png'): w is not a finite number ('nan')"),
    ('a.png,Mass,10,20,,40\n', "row 2 ('a.png'): needs 6 values"),
    ('a.png,Mass,10,20,0,40\n', 'box width and height must be positive'),
    ('a.png,Mass,1000,20,30,40\n', 'is not inside the 1024x1024 image'),
    ('a.png,Mass,10,20,30,40,7\n', "unexpected values after h: '7'"),
    ('/abs/a.png,Mass,10,20,30,40\n', 'must be relative to the image folder'),
])
def test_nih_bad_rows_are_one_line_naming_file_and_row(tmp_path, rows, message):
    csv = write(tmp_path / 'b.csv', NIH_HEADER + 'ok.png,Mass,1,2,3,4\n' + rows)
    with pytest.raises(ConversionError) as error:
        convert_nih(csv)
    text = one_line(error)
    assert text.startswith(f'{csv}: row 3') and message.replace('row 2', 'row 3') in text


def test_nih_wrong_header_and_empty_file(tmp_path):
    csv = write(tmp_path / 'b.csv', 'image,label,x,y,w,h\na.png,Mass,1,2,3,4\n')
    with pytest.raises(ConversionError, match="not the layout of NIH's BBox_List_2017.csv"):
        convert_nih(csv)
    with pytest.raises(ConversionError, match='empty file'):
        convert_nih(write(tmp_path / 'e.csv', '\n'))
    with pytest.raises(ConversionError, match='file not found'):
        convert_nih(tmp_path / 'none.csv')


def test_nih_class_list_refuses_or_drops_and_counts(tmp_path):
    csv = write(tmp_path / 'b.csv', NIH_HEADER + 'a.png,Mass,1,2,3,4\nb.png,Fibrosis,1,2,3,4\n'
                'a.png,Fibrosis,5,6,7,8\n')
    with pytest.raises(ConversionError) as error:
        convert_nih(csv, classes=NIH8_CLASSES)
    assert one_line(error).startswith(f"{csv}: row 3 ('b.png'): class 'Fibrosis' is not in")
    report = convert_nih(csv, classes=NIH8_CLASSES, drop_unknown=True)
    # b.png had only a Fibrosis box: left out (it is no negative), counted.
    assert report.records == [dict(file_name='a.png', syms=['Mass'], boxes=[[1.0, 2.0, 4.0, 6.0]])]
    assert report.count('boxes of classes outside the class list, dropped (Fibrosis)') == 2
    assert report.count('images left without a box by the class list, left out') == 1


def _png(path, size):
    import cv2
    import numpy as np
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.zeros((size, size), np.uint8))


def test_nih_images_missing_skipped_negatives_and_size(tmp_path):
    csv = write(tmp_path / 'b.csv', NIH_HEADER + 'a.png,Mass,10,20,30,40\n'
                'gone.png,Nodule,1,2,3,4\n')
    images = tmp_path / 'images'
    _png(images / 'a.png', 512)
    _png(images / 'normal.png', 512)
    (images / 'notes.txt').write_text('not an image')
    with pytest.raises(ConversionError) as error:
        convert_nih(csv, scale=0.5, images_dir=images)
    assert one_line(error) == (f"{csv}: row 3: image {images / 'gone.png'} is not there "
                               '(--skip-missing skips such images)')
    report = convert_nih(csv, scale=0.5, images_dir=images, skip_missing=True)
    assert [r['file_name'] for r in report.records] == ['a.png']
    assert report.count(f'images of the CSV missing in {images}, skipped') == 1
    assert report.count(f'boxes of the images missing in {images}, skipped') == 1
    assert report.count(f'images in {images} without a box, not included '
                        '(--negatives-from-images adds them as negatives)') == 1
    report = convert_nih(csv, scale=0.5, images_dir=images, skip_missing=True,
                         negatives_from_images=True)
    assert report.records == [
        dict(file_name='a.png', syms=['Mass'], boxes=[[5.0, 10.0, 20.0, 30.0]]),
        dict(file_name='normal.png', syms=[], boxes=[])]
    # 512-pixel images with the 1024-pixel scale: the boxes would be twice too large.
    with pytest.raises(ConversionError,
                       match=r'row 2: image .*a.png is 512x512, .* use --scale 0.5'):
        convert_nih(csv, images_dir=images, skip_missing=True)


# --- COCO -----------------------------------------------------------------------------------------

RECORDS = [
    dict(file_name='a.png', syms=['Nodule', 'Consolidation', 'Effusion'],
         boxes=[[10.0, 20.0, 40.0, 60.0], [100.5, 200.0, 300.0, 400.25],
                [100.5, 200.0, 300.0, 400.25]]),
    dict(file_name='neg.png', syms=[], boxes=[]),
    dict(file_name='sub/b.png', syms=['Nodule'], boxes=[[0.1, 0.2, 0.7, 0.3]]),
]


def test_to_coco_by_hand(tmp_path):
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(RECORDS))
    coco, report = to_coco(ann, image_size=(512, 512))
    assert coco['categories'] == [  # the file's classes, alphabetical, ids from 1
        dict(id=1, name='Consolidation', supercategory='lesion'),
        dict(id=2, name='Effusion', supercategory='lesion'),
        dict(id=3, name='Nodule', supercategory='lesion')]
    assert coco['images'] == [
        dict(id=1, file_name='a.png', width=512, height=512),
        dict(id=2, file_name='neg.png', width=512, height=512),
        dict(id=3, file_name='sub/b.png', width=512, height=512)]
    first = coco['annotations'][:3]
    assert first == [
        dict(id=1, image_id=1, category_id=3, bbox=[10.0, 20.0, 30.0, 40.0], area=1200.0,
             iscrowd=0),
        dict(id=2, image_id=1, category_id=1, bbox=[100.5, 200.0, 199.5, 200.25],
             area=199.5 * 200.25, iscrowd=0),
        dict(id=3, image_id=1, category_id=2, bbox=[100.5, 200.0, 199.5, 200.25],
             area=199.5 * 200.25, iscrowd=0)]
    x, y, w, h = coco['annotations'][3]['bbox']
    assert coco['annotations'][3]['image_id'] == 3 and (x, y) == (0.1, 0.2)
    assert x + w == 0.7 and y + h == 0.3 and math.isclose(w, 0.6) and math.isclose(h, 0.1)
    assert report.num_boxes == 4 and report.num_negatives == 1
    # --classes gives the order (and categories without boxes)
    coco, _ = to_coco(ann, classes=('Nodule', 'Mass', 'Effusion', 'Consolidation'),
                      image_size=(512, 512))
    assert [c['name'] for c in coco['categories']] == ['Nodule', 'Mass', 'Effusion',
                                                       'Consolidation']
    assert [a['category_id'] for a in coco['annotations']] == [1, 4, 3, 1]


def test_coco_round_trip_is_exact(tmp_path):
    rng = random.Random(0)
    awkward = []
    for i in range(300):  # coordinates whose difference is not exact in binary floating point
        x1, y1 = round(rng.uniform(0, 500), rng.choice([1, 2, 3, 7])), rng.uniform(0, 0.5)
        awkward.append(dict(file_name=f'r{i}.png', syms=['Mass'],
                            boxes=[[x1, y1, x1 + round(rng.uniform(0.01, 500), 3), 0.7]]))
    sample = [dict(file_name=r['file_name'], syms=r['syms'], boxes=r['boxes'])
              for r in read_annotations(FIXTURES / 'chestxdet_sample.json')]
    for records in (RECORDS, awkward, sample):
        ann, coco_path, back = (tmp_path / n for n in ('ann.json', 'coco.json', 'back.json'))
        ann.write_text(json.dumps(records))
        coco, _ = to_coco(ann, image_size=(1024, 1024))
        write_coco(coco_path, coco)
        assert from_coco(coco_path).records == read_annotations(ann)


def test_extent_adds_back_exactly():
    rng = random.Random(1)
    for _ in range(10000):
        low = rng.uniform(0, 2000) * rng.choice([1, 1e-3])
        high = low + rng.uniform(1e-6, 2000)
        assert low + _extent(low, high) == high


def test_to_coco_output_loads_in_pycocotools(tmp_path, capsys):
    coco_api = pytest.importorskip('pycocotools.coco')
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(RECORDS))
    coco, _ = to_coco(ann, image_size=(512, 512))
    api = coco_api.COCO()
    api.dataset = coco
    api.createIndex()
    assert api.getAnnIds(imgIds=[2]) == []  # the negative
    assert len(api.getAnnIds(imgIds=[1])) == 3
    assert api.loadCats(api.getCatIds(catNms=['Nodule']))[0]['id'] == 3


def test_to_coco_sizes_from_image_headers_and_bad_input(tmp_path):
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(RECORDS[:2]))
    with pytest.raises(ConversionError, match='give the size of every image'):
        to_coco(ann)
    with pytest.raises(ConversionError) as error:
        to_coco(ann, images_dir=tmp_path)
    assert one_line(error) == f"{ann}: record 0 ('a.png'): image {tmp_path / 'a.png'} is not there"
    _png(tmp_path / 'a.png', 512)
    _png(tmp_path / 'neg.png', 200)
    coco, _ = to_coco(ann, images_dir=tmp_path)
    assert [(i['width'], i['height']) for i in coco['images']] == [(512, 512), (200, 200)]
    with pytest.raises(ConversionError) as error:  # box 1 reaches x 300, y 400.25 on a 300 image
        to_coco(ann, image_size=(300, 300))
    assert one_line(error) == (f"{ann}: record 0 ('a.png'): box 1 [100.5, 200, 300, 400.25] is "
                               'not inside the 300x300 image (--clip clips boxes partly outside '
                               'to the image)')
    coco, report = to_coco(ann, image_size=(300, 300), clip=True)
    assert coco['annotations'][1]['bbox'] == [100.5, 200.0, 199.5, 100.0]
    assert report.count('boxes partly outside their image, clipped') == 2
    with pytest.raises(ConversionError, match="box 0 has class 'Nodule', which is not in the "
                       'class list'):
        to_coco(ann, classes=('Mass',), image_size=(512, 512))


def _coco(**changes):
    data = dict(images=[dict(id=7, file_name='a.png', width=100, height=80),
                        dict(id=9, file_name='n.png')],
                annotations=[dict(id=1, image_id=7, category_id=2, bbox=[10, 20, 30, 40]),
                             dict(id=2, image_id=7, category_id=5, bbox=[10, 20, 30, 40],
                                  iscrowd=0)],
                categories=[dict(id=2, name='Mass'), dict(id=5, name='Nodule')])
    data.update(changes)
    return data


def test_from_coco_by_hand_crowd_counted(tmp_path):
    data = _coco()
    data['annotations'].append(dict(id=3, image_id=9, category_id=2, bbox=[0, 0, 5, 5],
                                    iscrowd=1))
    path = tmp_path / 'c.json'
    path.write_text(json.dumps(data))
    report = from_coco(path)
    assert report.records == [
        dict(file_name='a.png', syms=['Mass', 'Nodule'],
             boxes=[[10.0, 20.0, 40.0, 60.0], [10.0, 20.0, 40.0, 60.0]]),
        dict(file_name='n.png', syms=[], boxes=[])]
    assert report.count('crowd annotations (iscrowd 1), left out') == 1


@pytest.mark.parametrize('change,message', [
    (dict(annotations=[dict(id=1, image_id=7, category_id=3, bbox=[1, 2, 3, 4])]),
     "annotations[0] (id 1): category_id 3 is not in \"categories\""),
    (dict(annotations=[dict(id=1, image_id=8, category_id=2, bbox=[1, 2, 3, 4])]),
     "annotations[0] (id 1): image_id 8 is not in \"images\""),
    (dict(annotations=[dict(id=1, image_id=7, category_id=2, bbox=[1, 2, 0, 4])]),
     'annotations[0] (id 1): bbox width and height must be positive'),
    (dict(annotations=[dict(id=1, image_id=7, category_id=2, bbox=[1, 2, 'x', 4])]),
     'annotations[0] (id 1): bbox must be 4 finite numbers'),
    (dict(annotations=[dict(id=1, image_id=7, category_id=2, bbox=[90, 2, 30, 4])]),
     'annotations[0] (id 1): box [90, 2, 120, 6] is not inside the 100x80 image'),
    (dict(annotations=[dict(id=1, image_id=7, category_id=2)]),
     'annotations[0] (id 1): missing bbox'),
    (dict(images=[dict(id=7, file_name='a.png'), dict(id=7, file_name='b.png')]),
     'images[1] (id 7): duplicate image id (first at images[0] (id 7))'),
    (dict(categories=[dict(id=2, name='Mass'), dict(id=5, name='Mass')]),
     "categories[1] (id 5): duplicate category name 'Mass'"),
])
def test_from_coco_bad_entries(tmp_path, change, message):
    path = tmp_path / 'c.json'
    path.write_text(json.dumps(_coco(**change)))
    with pytest.raises(ConversionError) as error:
        from_coco(path)
    assert one_line(error).startswith(f'{path}: {message}')


def test_from_coco_not_coco(tmp_path):
    path = tmp_path / 'c.json'
    path.write_text('[]')
    with pytest.raises(ConversionError, match='top level must be a COCO object'):
        from_coco(path)
    path.write_text('{"images": []}')
    with pytest.raises(ConversionError, match='missing annotations, categories'):
        from_coco(path)


# --- VinBigData -----------------------------------------------------------------------------------

VIN_HEADER = 'image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max\n'
VIN_ROWS = (
    # img1: three readers on one nodule, pairwise IoU > 0.4 -> one box, their mean:
    # x1 = (10 + 14 + 18) / 3 = 14, x2 = (50 + 54 + 58) / 3 = 54 (same for y).
    'img1,Nodule/Mass,8,R1,10,10,50,50\n'
    'img1,Nodule/Mass,8,R2,14,14,54,54\n'
    'img1,Nodule/Mass,8,R3,18,18,58,58\n'
    # a fourth box far away (IoU 0) stays as it is
    'img1,Nodule/Mass,8,R3,200,200,240,240\n'
    # two readers drew the same box: fused, it is that box
    'img1,Aortic enlargement,0,R1,100,100,150,160\n'
    'img1,Aortic enlargement,0,R2,100,100,150,160\n'
    # img2: every reader found nothing -> a negative
    'img2,No finding,14,R1,,,,\n'
    'img2,No finding,14,R2,,,,\n'
    # img3: one reader found nothing, another a box -> the box
    'img3,No finding,14,R1,,,,\n'
    'img3,Cardiomegaly,3,R2,30,40,90,100\n'
    # img4: two readers' boxes with IoU 20*20 / (2*40*40 - 20*20) = 1/7 < 0.4: both kept
    'img4,Nodule/Mass,8,R1,10,10,50,50\n'
    'img4,Nodule/Mass,8,R2,30,30,70,70\n')


def test_vinbigdata_wbf_by_hand(tmp_path):
    pytest.importorskip('ensemble_boxes')
    csv = write(tmp_path / 'train.csv', VIN_HEADER + VIN_ROWS)
    report = convert_vinbigdata(csv)
    assert report.records == [
        dict(file_name='img1.png', syms=['Nodule/Mass', 'Nodule/Mass', 'Aortic enlargement'],
             boxes=[[14.0, 14.0, 54.0, 54.0], [200.0, 200.0, 240.0, 240.0],
                    [100.0, 100.0, 150.0, 160.0]]),
        dict(file_name='img2.png', syms=[], boxes=[]),
        dict(file_name='img3.png', syms=['Cardiomegaly'], boxes=[[30.0, 40.0, 90.0, 100.0]]),
        dict(file_name='img4.png', syms=['Nodule/Mass', 'Nodule/Mass'],
             boxes=[[10.0, 10.0, 50.0, 50.0], [30.0, 30.0, 70.0, 70.0]])]
    assert report.count('reader boxes merged into another one by WBF') == 3  # 12 rows -> 9 boxes
    assert report.count('images with boxes where some reader found nothing (boxes kept)') == 1
    # img4 at a threshold under 1/7: one box, the mean [20, 20, 60, 60]
    low = convert_vinbigdata(csv, iou_thr=0.1, suffix='.jpg').records
    assert low[3] == dict(file_name='img4.jpg', syms=['Nodule/Mass'],
                          boxes=[[20.0, 20.0, 60.0, 60.0]])


def test_vinbigdata_without_fusion_keeps_each_readers_box(tmp_path):
    repeated = 'img4,Nodule/Mass,8,R2,30,30,70,70\n'
    csv = write(tmp_path / 'train.csv', VIN_HEADER + VIN_ROWS + repeated)
    report = convert_vinbigdata(csv, fuse='none')
    img1 = report.records[0]
    assert img1['syms'] == ['Nodule/Mass'] * 4 + ['Aortic enlargement']
    assert img1['boxes'][:2] == [[10.0, 10.0, 50.0, 50.0], [14.0, 14.0, 54.0, 54.0]]
    # R2's copy of R1's aortic box is kept once, counted; so is the repeated last row.
    assert report.count('identical boxes of one class in one image, kept once') == 1
    assert report.count('repeated rows (same image, class, reader and box), kept once') == 1
    assert report.num_boxes == 5 + 1 + 2 and report.num_negatives == 1


def test_vinbigdata_without_ensemble_boxes_is_one_error(tmp_path, monkeypatch):
    csv = write(tmp_path / 'train.csv', VIN_HEADER + VIN_ROWS)
    monkeypatch.setitem(sys.modules, 'ensemble_boxes', None)  # import fails
    with pytest.raises(MissingExtraError) as error:
        convert_vinbigdata(csv)
    assert 'pip install ensemble-boxes' in one_line(error) and '--fuse none' in str(error.value)
    assert convert_vinbigdata(csv, fuse='none').num_boxes == 8  # needs no ensemble-boxes


@pytest.mark.parametrize('row,message', [
    ('img9,No finding,14,R1,1,2,3,4\n', "a 'No finding' row with coordinates"),
    ('img9,Nodule/Mass,8,R1,50,10,40,50\n', 'box [50, 10, 40, 50] is empty or inverted'),
    ('img9,Nodule/Mass,8,R1,nan,10,40,50\n', "x_min is not a finite number ('nan')"),
    ('img9,Nodule/Mass,8,R1,,10,40,50\n', 'x_min is not a finite number (empty)'),
    ('img9,Nodule/Mass,8,R1,-5,10,40,50\n', 'negative coordinate'),
    ('img9,Nodule/Mass,9,R1,5,10,40,50\n', "class 'Nodule/Mass' has class_id '9' here but '8' "
     'at row 2'),
    (',Nodule/Mass,8,R1,5,10,40,50\n', 'empty image_id'),
    ('img9,Nodule/Mass,8,R1,5,10,40,50,60\n', '9 values but the header has 8 columns'),
])
def test_vinbigdata_bad_rows(tmp_path, row, message):
    csv = write(tmp_path / 'train.csv', VIN_HEADER + VIN_ROWS + row)
    with pytest.raises(ConversionError) as error:
        convert_vinbigdata(csv, fuse='none')
    assert one_line(error).startswith(f'{csv}: row 14') and message in one_line(error)


def test_vinbigdata_missing_column_classes_and_sizes(tmp_path):
    csv = write(tmp_path / 'train.csv', 'image_id,class_name,x_min,y_min,x_max\n')
    with pytest.raises(ConversionError) as error:
        convert_vinbigdata(csv, fuse='none')
    assert one_line(error).startswith(f'{csv}: missing column(s) y_max in the header')
    csv = write(tmp_path / 'train.csv', VIN_HEADER + VIN_ROWS)
    with pytest.raises(ConversionError, match=r"row 6 \('img1'\): class 'Aortic enlargement' is "
                       'not in the class list'):
        convert_vinbigdata(csv, fuse='none', classes=('Nodule/Mass', 'Cardiomegaly'))
    report = convert_vinbigdata(csv, fuse='none', classes=('Aortic enlargement',),
                                drop_unknown=True)
    # img3 and img4 had only dropped boxes: left out, not negatives; img2 stays a negative.
    assert [r['file_name'] for r in report.records] == ['img1.png', 'img2.png']
    assert report.count('images left without a box by the class list, left out') == 2

    sizes = write(tmp_path / 'sizes.csv', 'image_id,width,height\nimg1,245,300\nimg2,10,10\n'
                  'img3,100,100\n')
    with pytest.raises(ConversionError) as error:
        convert_vinbigdata(csv, fuse='none', image_sizes=read_image_sizes(sizes))
    assert one_line(error) == (f"{csv}: row 12 ('img4'): image 'img4' has no size in the image "
                               'size list')
    write(sizes, 'image_id,width,height\nimg1,230,300\nimg2,10,10\nimg3,100,100\nimg4,80,80\n')
    with pytest.raises(ConversionError, match=r"row 5 \('img1'\): box \[200, 200, 240, 240\] is "
                       r'not inside the 230x300 image \(--clip'):
        convert_vinbigdata(csv, fuse='none', image_sizes=read_image_sizes(sizes))
    report = convert_vinbigdata(csv, fuse='none', image_sizes=read_image_sizes(sizes), clip=True)
    assert report.records[0]['boxes'][3] == [200.0, 200.0, 230.0, 240.0]
    write(sizes, 'image_id,width,height\nimg1,abc,300\n')
    with pytest.raises(ConversionError, match=r"sizes.csv: row 2 \('img1'\): width is not a "
                       r"finite number \('abc'\)"):
        read_image_sizes(sizes)
