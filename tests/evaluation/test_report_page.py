"""tools/analysis_tools/report.py and tbmm.evaluation.report_page: one self-contained HTML page
holding every part of an evaluation, checked by parsing it and by rendering it in headless
Chromium."""
import base64
import importlib.util
import json
import os.path as osp
from html.parser import HTMLParser

import cv2
import numpy as np
import pytest

from tbmm.datasets.annotations import read_annotations, write_annotations
from tbmm.evaluation.functional import evaluate_records
from tbmm.evaluation.report_page import (
    REPORT_SUFFIX,
    ReportError,
    dataset_files,
    find_report_sources,
    write_evaluation_report,
    write_report,
)
from tbmm.utils import run_cli
from tests.engine.tool_runs import tool_path
from tests.evaluation.analysis_cases import record

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
REAL = osp.join(REPO_ROOT, 'tests', 'fixtures', 'real')
CLASSES = ['Consolidation', 'Effusion', 'Nodule', 'Cardiomegaly', 'Mass']
ALL_SECTIONS = ['metrics', 'froc', 'confusion', 'errors', 'curves', 'gallery', 'training',
                'dataset']


class PageParser(HTMLParser):
    """Images, links, tables (cell texts per row), section ids and scripts of a page."""

    def __init__(self):
        super().__init__()
        self.images, self.links, self.sections, self.scripts = [], [], [], 0
        self.tables = {}
        self._table = self._row = self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == 'img':
            self.images.append(attrs)
        elif tag in ('a', 'link'):
            self.links.append(attrs.get('href'))
        elif tag == 'section':
            self.sections.append(attrs.get('id'))
        elif tag == 'script':
            self.scripts += 1
        elif tag == 'table':
            self._table = self.tables.setdefault(attrs.get('id') or f'_{len(self.tables)}', [])
        elif tag == 'tr' and self._table is not None:
            self._row = []
            self._table.append(self._row)
        elif tag in ('td', 'th') and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ('td', 'th') and self._cell is not None:
            self._row.append(''.join(self._cell).strip())
            self._cell = None
        elif tag == 'table':
            self._table = self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse(path):
    parser = PageParser()
    with open(path, encoding='utf-8') as f:
        parser.feed(f.read())
    return parser


def decode_image(src):
    header, data = src.split(',', 1)
    assert header in ('data:image/png;base64', 'data:image/jpeg;base64'), header[:40]
    pixels = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)
    assert pixels is not None
    return pixels


def predictions():
    """A true positive per ground-truth box of the listed classes but the Nodules (missed), a
    duplicate, a wrong class and background false positives."""
    preds = []
    for gt in read_annotations(osp.join(REAL, 'chestxdet_real.json')):
        syms, boxes, scores = [], [], []
        for k, (name, box) in enumerate(zip(gt['syms'], gt['boxes'])):
            if name in CLASSES and name != 'Nodule':
                syms.append(name)
                boxes.append([v + 3 for v in box])
                scores.append(0.9 - 0.05 * k)
        preds.append(record(gt['file_name'], syms, boxes, scores))
    preds[0]['syms'] += ['Mass', 'Effusion']
    preds[0]['boxes'] += [[100, 100, 180, 170], [809, 498, 885, 595]]
    preds[0]['scores'] += [0.8, 0.4]
    preds[2]['syms'] += ['Nodule']
    preds[2]['boxes'] += [[500, 500, 560, 560]]
    preds[2]['scores'] += [0.7]
    return preds


def write_scalars(work_dir):
    """An MMEngine scalars file of a 2-epoch run with one validation per epoch."""
    lines = []
    for epoch in (1, 2):
        for it in (5, 10):
            step = (epoch - 1) * 10 + it
            lines.append({'lr': 0.001, 'loss': 2.0 / step, 'loss_cls': 1.0 / step,
                          'loss_bbox': 1.0 / step, 'epoch': epoch, 'iter': step, 'step': step})
        lines.append({**{f'chestxdet/AP50/{c}': 0.1 * epoch for c in CLASSES},
                      'chestxdet/mAP50': 0.1 * epoch, 'step': epoch})
    folder = work_dir / '20260101_000000' / 'vis_data'
    folder.mkdir(parents=True)
    (folder / 'scalars.json').write_text('\n'.join(json.dumps(line) for line in lines) + '\n')


@pytest.fixture(scope='module')
def report(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('report_run')
    write_scalars(work_dir)
    gt = read_annotations(osp.join(REAL, 'chestxdet_real.json'))
    pred = predictions()
    path = write_evaluation_report(work_dir / 'test', gt, pred, CLASSES,
                                   img_dir=osp.join(REAL, 'images'), n_bootstrap=50,
                                   work_dir=work_dir, datasets={'train': gt, 'test': gt[:3]},
                                   log=lambda msg: None)
    return {'path': path, 'work_dir': work_dir, 'gt': gt, 'pred': pred}


def test_report_holds_every_part_inline(report):
    path, work_dir = report['path'], report['work_dir']
    assert path == str(work_dir / ('test' + REPORT_SUFFIX))
    page = parse(path)
    assert page.sections == ALL_SECTIONS
    assert page.scripts == 0
    # Self-contained: every image inlined, every link an anchor of the page itself.
    assert page.images and all(img['src'].startswith('data:image/') for img in page.images)
    assert all(link.startswith('#') for link in page.links)
    assert sorted(link[1:] for link in page.links) == sorted(ALL_SECTIONS)
    for img in page.images:
        assert decode_image(img['src']).size > 0

    # The table: each class's row carries its metrics file's values and intervals.
    metrics = json.loads((work_dir / 'test.metrics.json').read_text())
    expected = evaluate_records(report['gt'], report['pred'], CLASSES)
    rows = {row[0]: row for row in page.tables['metrics'][1:]}
    for name in CLASSES:
        entry = metrics['per_class'][name]
        assert entry['ap50'] == expected['per_class'][name]['ap50']
        assert rows[name][1] == str(expected['per_class'][name]['n_gt'])
        if name == 'Mass':
            continue  # no ground truth: n/a, below
        low, high = entry['ap50_ci95']
        assert rows[name][3] == f'{entry["ap50"]:.3f} [{low:.3f}, {high:.3f}]'
        assert low <= entry['ap50'] <= high
    assert rows['Nodule'][3].startswith('0.000')  # both Nodules missed
    assert 'Mass' in rows and rows['Mass'][3] == 'n/a'  # no Mass ground truth

    confusion = json.loads((work_dir / 'test.analysis' / 'confusion.json').read_text())
    cells = [row[1:] for row in page.tables['confusion'][1:]]
    matrix = [[str(v) for v in row] for row in confusion['matrix']]
    matrix[-1][-1] = '-'
    assert cells == matrix

    errors = page.tables['errors']
    assert [row[0] for row in errors[1:]] == CLASSES + ['mean']
    # Data set statistics of both sets: boxes per class counted here from the records.
    for k, records in enumerate((report['gt'], report['gt'][:3])):
        table = {row[0]: row for row in page.tables[f'dataset_{k}'][1:]}
        for name in CLASSES:
            boxes = sum(sym == name for r in records for sym in r['syms'])
            assert table[name][1] == str(boxes)


def test_galleries_and_learning_curves_are_in_the_page(report):
    page = parse(report['path'])
    analysis = report['work_dir'] / 'test.analysis'
    alts = [img['alt'] for img in page.images]
    gallery = analysis / 'gallery'
    crops = sorted(p.relative_to(gallery) for p in gallery.rglob('*.png'))
    assert crops
    for crop in crops:
        name = crop.parts[0].replace('_', ' ')
        shown = f'{name}: {crop.name}' in alts
        number = int(crop.name.split('_')[1])
        assert shown == (number <= 4), crop
    # A gallery crop is re-encoded as JPEG at the crop's size.
    crop = crops[0]
    img = next(img for img in page.images if img['alt'].endswith(crop.name))
    assert img['src'].startswith('data:image/jpeg')
    assert decode_image(img['src']).shape == cv2.imread(str(analysis / 'gallery' / crop)).shape
    for curve in ('loss.png', 'lr.png', 'ap50_per_class.png'):
        assert f'run: {curve}' in alts
    for name in ('Consolidation', 'Effusion', 'Nodule', 'Cardiomegaly'):
        assert f'{name}: {name}_pr.png' in alts
    assert 'Mass: Mass_pr.png' not in alts  # no ground truth, no curves


def load_tool(name):
    """A tool's module, loaded from its file (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f'{name}_tool',
                                                  osp.join(REPO_ROOT, tool_path(name)))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_report_from_the_evaluate_cli_files(tmp_path, capsys):
    evaluate, report_tool = load_tool('evaluate'), load_tool('report')
    write_annotations(tmp_path / 'pred.json', predictions())
    ann = osp.join(REAL, 'chestxdet_real.json')
    out = tmp_path / 'eval'
    assert evaluate.main(['--ann', ann, '--pred', str(tmp_path / 'pred.json'), '--classes',
                          ','.join(CLASSES), '--out', str(out / 'metrics.json'),
                          '--analysis', str(out / 'analysis')]) == 0
    capsys.readouterr()
    assert run_cli(report_tool.main, [str(out), '--ann', f'gt={ann}']) == 0
    assert f'report written to {out / "metrics.report.html"}' in capsys.readouterr().out
    page = parse(out / 'metrics.report.html')
    # No work dir, no galleries (no --img-dir): those sections say so or are absent.
    assert page.sections == ['metrics', 'froc', 'confusion', 'errors', 'curves', 'gallery',
                             'dataset']
    text = (out / 'metrics.report.html').read_text()
    assert 'No gallery crops' in text and 'No intervals' in text

    # Without the analysis folder: the metrics alone, and how to get the rest.
    bare = tmp_path / 'bare'
    bare.mkdir()
    (bare / 'metrics.json').write_text((out / 'metrics.json').read_text())
    assert run_cli(report_tool.main, [str(bare / 'metrics.json'), '--out',
                                      str(tmp_path / 'bare.html')]) == 0
    page = parse(tmp_path / 'bare.html')
    assert page.sections == ['metrics', 'froc', 'analysis']
    assert 'tools/evaluate.py with --analysis DIR' in (tmp_path / 'bare.html').read_text()


def test_bad_sources_give_one_error_line(tmp_path, capsys):
    report_tool = load_tool('report')

    def error_line(argv):
        assert run_cli(report_tool.main, argv) == 2
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert captured.out == '' and len(lines) == 1 and lines[0].startswith('error: ')
        return lines[0]

    assert 'no such file or folder' in error_line([str(tmp_path / 'nope')])
    assert 'no metrics file' in error_line([str(tmp_path)])
    (tmp_path / 'a.metrics.json').write_text('{}')
    (tmp_path / 'b.metrics.json').write_text('[]')
    assert 'several metrics files (a.metrics.json, b.metrics.json)' in error_line([str(tmp_path)])
    assert 'not a metrics file' in error_line([str(tmp_path), '--metrics',
                                               str(tmp_path / 'b.metrics.json')])
    assert '--ann x.json: no such file' in error_line([str(tmp_path), '--ann', 'x.json'])
    assert 'not a folder' in error_line([str(tmp_path / 'a.metrics.json'), '--analysis',
                                         str(tmp_path / 'none')])
    with pytest.raises(ReportError, match='no ann_file'):
        dataset_files({'type': 'ChestXDetDataset'})


def test_dataset_files_join_the_data_root_as_mmengine_does():
    cfg = dict(type='ClassBalancedDataset', dataset=dict(
        data_root='data/x/', ann_file='annotation/test.json', data_prefix=dict(img='test_data/')))
    assert dataset_files(cfg) == ('data/x/annotation/test.json', 'data/x/test_data/')
    cfg = dict(data_root='data/x/', ann_file='/abs/t.json', data_prefix=dict(img='/abs/img/'))
    assert dataset_files(cfg) == ('/abs/t.json', '/abs/img/')


# --- In a real browser ----------------------------------------------------------------------------

def chromium_or_skip():
    from tbmm.visualization.browser import CHROMIUM_ENV, find_chromium
    executable = find_chromium()
    if executable is None:
        pytest.skip(f'no Chromium to render the report in (apt-get install chromium, or set '
                    f'${CHROMIUM_ENV}); CI installs it')
    return executable


def test_report_renders_in_headless_chromium(report, tmp_path):
    from tbmm.visualization.browser import render_page
    executable = chromium_or_skip()
    render = render_page(report['path'], width=1280, height=900, executable=executable)
    page = parse(report['path'])

    assert render.console_errors == []
    assert render.title == page_title(report['path'])
    # Every image decoded by the browser at its file's size.
    assert len(render.images) == len(page.images) > 20
    assert render.broken_images == []
    for seen, img in zip(render.images, page.images):
        height, width = decode_image(img['src']).shape[:2]
        assert (seen['natural_width'], seen['natural_height']) == (width, height)
    tables = {t['id']: t['rows'] for t in render.tables}
    assert tables['metrics'] == len(CLASSES) + 2  # header, classes, mean
    # Nothing requested but the page and its inlined images.
    page_url = render.requested_urls[0]
    assert page_url.startswith('file://') and page_url.endswith(REPORT_SUFFIX)
    assert all(url.startswith('data:') for url in render.requested_urls[1:])
    assert render.failed_urls == []

    shot = cv2.imdecode(np.frombuffer(render.screenshot_png, np.uint8), cv2.IMREAD_COLOR)
    assert shot.shape[1] == 1280 and shot.shape[0] == min(render.height, 16000) > 2000
    # Not blank: text, plots and radiographs give many colours and a wide spread.
    colors = np.unique(shot.reshape(-1, 3)[::7], axis=0)
    assert len(colors) > 1000 and shot.std() > 20
    # The top (title, table) is drawn: dark text pixels on the white page.
    top = shot[:400].mean(axis=2)
    assert (top < 100).mean() > 0.01 and (top > 240).mean() > 0.5


def page_title(path):
    text = open(path, encoding='utf-8').read()
    return text.split('<title>', 1)[1].split('</title>', 1)[0]


def test_the_browser_check_sees_broken_images_and_console_errors(tmp_path):
    """The checks above can fail: a missing image and a script error are reported."""
    from tbmm.visualization.browser import render_page
    executable = chromium_or_skip()
    page = tmp_path / 'broken.html'
    page.write_text('<!DOCTYPE html><html><head><title>broken</title></head><body>'
                    '<table id="t"><tr><td>1</td></tr></table><img src="missing.png">'
                    '<script>console.error("bad"); undefinedFunction();</script></body></html>')
    render = render_page(page, width=400, height=300, executable=executable)
    assert [img['src'].rsplit('/', 1)[-1] for img in render.broken_images] == ['missing.png']
    assert any('console.error: bad' in e for e in render.console_errors)
    assert any('undefinedFunction' in e for e in render.console_errors)
    assert any('missing.png' in e for e in render.console_errors)
    assert render.tables == [{'id': 't', 'rows': 1}]
    blank = cv2.imdecode(np.frombuffer(render.screenshot_png, np.uint8), cv2.IMREAD_COLOR)
    assert blank.shape[:2] == (300, 400)


def test_find_report_sources_reads_dataset_stats_and_fold_work_dirs(tmp_path, report):
    # A cross-validation layout: metrics at the top, learning curves in fold<k>/.
    for k in (1, 0):
        write_scalars(tmp_path / f'fold{k}')
    (tmp_path / 'cv.metrics.json').write_text(
        (report['work_dir'] / 'test.metrics.json').read_text())
    sources = find_report_sources(tmp_path)
    assert sources.metrics == str(tmp_path / 'cv.metrics.json')
    assert sources.analysis_dir is None and sources.froc_png is None
    assert sources.work_dirs == {'fold 0': str(tmp_path / 'fold0'),
                                 'fold 1': str(tmp_path / 'fold1')}
    out = write_report(sources, tmp_path / 'cv.html')
    alts = [img['alt'] for img in parse(out).images]
    assert 'fold 0: loss.png' in alts and 'fold 1: loss.png' in alts
    with_stats = find_report_sources(report['work_dir'])
    assert list(with_stats.dataset_stats) == ['train', 'test']
    assert with_stats.dataset_stats['test']['n_images'] == 3
