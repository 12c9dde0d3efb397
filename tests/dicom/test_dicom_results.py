"""tools/infer.py --dicom-out on pydicom-data's real chest CR (RG1_UNCR.dcm, MONOCHROME1, and its
JPEG 2000 copies): the SR and GSPS read back with highdicom say what predictions.json says,
reference the source, pass dciodvfy without errors, and the GSPS shows the radiograph the right
way round. Bad DICOM inputs are one line each and skipped. Boxes land on the original pixel grid:
the same picture stored 4x larger gives 4x the coordinates.
"""
import hashlib
import importlib
import json
import shutil
import subprocess

import cv2
import numpy as np
import pytest

from tbmm.utils import run_cli

pydicom = pytest.importorskip('pydicom')
hd = pytest.importorskip('highdicom')
pytest.importorskip('data_store', reason='pydicom-data (the dev extra) holds the test radiographs')

from pydicom.data import get_testdata_file  # noqa: E402

from tbmm.dicom.codes import finding_code  # noqa: E402
from tests.deploy.model_factory import build_random_detector, save_checkpoint  # noqa: E402
from tests.helpers import write_dicom  # noqa: E402

CONFIG = 'tests/fixtures/configs/phantom_tiny.py'
SCORE_THR = 0.1
# At most 8 boxes per image; the random head scores a spread-out tail above SCORE_THR.
OPTIONS = ['--cfg-options', 'model.test_cfg.max_per_img=8', 'model.test_cfg.score_thr=0.02']
REAL = ('RG1_UNCR.dcm', 'RG1_J2KR.dcm', 'RG1_J2KI.dcm')
FLOAT32_PIXEL = 1e-3  # SR/GSPS coordinates are 32-bit floats; boxes up to ~2000 px


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def infer(*argv):
    return run_cli(importlib.import_module('tools.infer').main, [str(a) for a in argv])


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """The tiny phantom detector with seeded random weights (nothing trained)."""
    cfg, model = build_random_detector(CONFIG, seed=0)
    return save_checkpoint(model, cfg.metainfo['classes'],
                           tmp_path_factory.mktemp('dicom_model') / 'model.pth')


def _bad_inputs(folder):
    """DICOM inputs tbmm cannot predict on, each for another reason."""
    shutil.copy(get_testdata_file('test-SR.dcm'), folder / 'report_sr.dcm')  # not an image
    header = pydicom.dcmread(get_testdata_file('RG1_UNCR.dcm'))
    del header.PixelData
    header.save_as(folder / 'no_pixels.dcm')
    # No decoder exists for MPEG-2 in pydicom: compressed pixel data it cannot decode.
    mpeg = pydicom.dcmread(get_testdata_file('RG1_J2KR.dcm'))
    mpeg.file_meta.TransferSyntaxUID = '1.2.840.10008.1.2.4.100'
    mpeg.save_as(folder / 'mpeg2.dcm')
    return {'report_sr.dcm': 'no pixel data', 'no_pixels.dcm': 'no pixel data',
            'mpeg2.dcm': 'cannot decode DICOM pixel data'}


@pytest.fixture(scope='module')
def real_run(checkpoint, tmp_path_factory):
    """tools/infer.py --dicom-out over the three real radiographs and three bad DICOM files."""
    root = tmp_path_factory.mktemp('dicom_run')
    inputs = root / 'inputs'
    inputs.mkdir()
    for name in REAL:
        shutil.copy(get_testdata_file(name), inputs / name)
    bad = _bad_inputs(inputs)
    out, dicom_out = root / 'out', root / 'dicom'
    return inputs, out, dicom_out, bad


def _run_real(real_run, checkpoint, capsys):
    inputs, out, dicom_out, _ = real_run
    if not (out / 'predictions.json').exists():
        assert infer(CONFIG, checkpoint, inputs, '--out-dir', out, '--dicom-out', dicom_out,
                     '--score-thr', SCORE_THR, '--no-progress', *OPTIONS) == 0
    return capsys.readouterr()


def findings(record):
    """``(class, box, score)`` scoring at least SCORE_THR, as predictions.json says."""
    return [(s, b, p) for s, b, p in zip(record['syms'], record['boxes'], record['scores'])
            if p >= SCORE_THR]


def polyline_box(points):
    """``[x1, y1, x2, y2]`` of a closed 5-point axis-aligned POLYLINE, checking its shape."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    assert len(points) == 5 and np.array_equal(points[0], points[-1]), points
    x1, y1 = points[0]
    x2, y2 = points[2]
    assert np.allclose(points[1], [x2, y1]) and np.allclose(points[3], [x1, y2])
    return [x1, y1, x2, y2]


def test_bad_dicom_inputs_are_one_line_each_and_skipped(real_run, checkpoint, capsys):
    captured = _run_real(real_run, checkpoint, capsys)
    inputs, out, dicom_out, bad = real_run
    for name, reason in bad.items():
        lines = [line for line in captured.err.splitlines() if line.strip().startswith(name)]
        assert len(lines) == 1 and reason in lines[0], captured.err
        assert not (dicom_out / name.replace('.dcm', '.sr.dcm')).exists()
    assert 'Traceback' not in captured.err
    unreadable = (out / 'unreadable.txt').read_text().splitlines()
    assert sorted(line.split('\t')[0] for line in unreadable) == sorted(bad)
    assert sorted(p.name for p in dicom_out.iterdir()) == sorted(
        f'{n[:-4]}.{kind}.dcm' for n in REAL for kind in ('sr', 'gsps'))
    assert f'DICOM:       {len(REAL)} SR + GSPS pair(s)' in captured.out


@pytest.mark.parametrize('name', REAL)
def test_sr_reads_back_as_predictions_json_says(real_run, checkpoint, capsys, name):
    _run_real(real_run, checkpoint, capsys)
    inputs, out, dicom_out, _ = real_run
    record = {r['file_name']: r for r in json.loads((out / 'predictions.json').read_text())}[name]
    expected = findings(record)
    assert expected, 'compare real findings, not an empty report'
    source = pydicom.dcmread(inputs / name, stop_before_pixels=True)
    sr = hd.sr.srread(dicom_out / name.replace('.dcm', '.sr.dcm'))

    groups = sr.content.get_planar_roi_measurement_groups()
    assert len(groups) == len(expected)
    read = []
    for group in groups:
        (score,) = [m.value for m in group.get_measurements()
                    if m.name.value == '111012' and m.name.scheme_designator == 'DCM']
        read.append((group.finding_type.meaning, polyline_box(group.roi.value), score,
                     group.finding_type.scheme_designator))
        assert group.roi.graphic_type == hd.sr.GraphicTypeValues.POLYLINE
        image_refs = group.roi.ContentSequence
        assert image_refs[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == \
            source.SOPInstanceUID
    for (cls, box, score), (meaning, read_box, read_score, scheme) in zip(expected, read):
        assert (meaning, scheme) == finding_code(cls)[2:0:-1]
        assert np.allclose(read_box, box, atol=FLOAT32_PIXEL)
        assert read_score == pytest.approx(score, abs=1e-6)
    # Every box lies on the source's pixel grid (DICOM: 0..Columns x 0..Rows).
    assert all(0 <= b[0] <= b[2] <= source.Columns and 0 <= b[1] <= b[3] <= source.Rows
               for _, b, _ in expected)

    # Same study, new series and instance; the evidence names the source image.
    assert sr.StudyInstanceUID == source.StudyInstanceUID
    assert sr.SeriesInstanceUID != source.SeriesInstanceUID
    assert sr.SOPInstanceUID != source.SOPInstanceUID
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.SeriesInstanceUID == source.SeriesInstanceUID
    assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    # The algorithm: tbmm's version and the checkpoint's SHA-256 (hashed here, independently).
    from tbmm import __version__
    texts = text_items(sr)
    # DCM 111001-111003: Algorithm Name, Version, Parameters (PS3.16 TID 4019), one per finding.
    assert texts['111001'] == ['phantom_tiny'] * len(expected) * 2  # the group and its score
    assert texts['111003'] == [__version__] * len(expected) * 2
    assert f'model sha256: {sha256(checkpoint)}' in texts['111002']


def text_items(dataset):
    """``{concept code value: [text values]}`` of every TEXT item in an SR content tree."""
    found = {}
    for item in dataset.get('ContentSequence') or []:
        if item.ValueType == 'TEXT':
            code = item.ConceptNameCodeSequence[0].CodeValue
            found.setdefault(code, []).append(item.TextValue)
        for code, values in text_items(item).items():
            found.setdefault(code, []).extend(values)
    return found


@pytest.mark.parametrize('name', REAL)
def test_gsps_draws_the_findings_on_the_source(real_run, checkpoint, capsys, name):
    _run_real(real_run, checkpoint, capsys)
    inputs, out, dicom_out, _ = real_run
    record = {r['file_name']: r for r in json.loads((out / 'predictions.json').read_text())}[name]
    expected = findings(record)
    source = pydicom.dcmread(inputs / name, stop_before_pixels=True)
    gsps = pydicom.dcmread(dicom_out / name.replace('.dcm', '.gsps.dcm'))
    assert gsps.SOPClassUID == '1.2.840.10008.5.1.4.1.1.11.1'  # Grayscale Softcopy PS Storage
    assert gsps.StudyInstanceUID == source.StudyInstanceUID
    assert gsps.SOPInstanceUID != source.SOPInstanceUID
    referenced = gsps.ReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID == source.SeriesInstanceUID
    assert referenced.ReferencedImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    # The source is MONOCHROME1: a presentation state must invert it to show it as intended.
    assert source.PhotometricInterpretation == 'MONOCHROME1'
    assert gsps.PresentationLUTShape == 'INVERSE'

    drawn, texts = [], []
    for annotation in gsps.GraphicAnnotationSequence:
        for graphic in annotation.GraphicObjectSequence:
            assert graphic.GraphicAnnotationUnits == 'PIXEL' and graphic.GraphicType == 'POLYLINE'
            drawn.append(polyline_box(graphic.GraphicData))
        texts += [t.UnformattedTextValue for t in annotation.TextObjectSequence]
    order = lambda boxes: sorted(tuple(np.round(b, 2)) for b in boxes)  # noqa: E731
    assert np.allclose(order(drawn), order([b for _, b, _ in expected]), atol=FLOAT32_PIXEL)
    assert sorted(texts) == sorted(f'{c} {s:.2f}' for c, _, s in expected)


@pytest.mark.parametrize('kind', ['sr', 'gsps'])
@pytest.mark.parametrize('name', REAL)
def test_dciodvfy_finds_no_error(real_run, checkpoint, capsys, name, kind):
    dciodvfy = shutil.which('dciodvfy')
    if dciodvfy is None:
        pytest.skip("dciodvfy missing: apt-get install dicom3tools (.ci/run installs it)")
    _run_real(real_run, checkpoint, capsys)
    path = real_run[2] / name.replace('.dcm', f'.{kind}.dcm')
    report = subprocess.run([dciodvfy, str(path)], capture_output=True, text=True, timeout=60)
    lines = (report.stdout + report.stderr).splitlines()
    assert 'ComprehensiveSR' in lines or 'GrayscaleSoftcopyPresentationState' in lines, lines
    assert [line for line in lines if line.startswith('Error')] == []


def test_rendered_gsps_shows_the_radiograph_as_tbmm_reads_it(real_run, checkpoint, capsys):
    """The GSPS applied to the stored pixels (its window, its INVERSE shape) gives the grey image
    tbmm's reader makes (window, MONOCHROME1 inverted), and lungs come out darker than the
    mediastinum between them, as on any PA chest radiograph."""
    from tbmm.datasets.image_io import read_xray
    from tbmm.dicom.render import render_presentation_state

    _run_real(real_run, checkpoint, capsys)
    inputs, _, dicom_out, _ = real_run
    image = pydicom.dcmread(inputs / 'RG1_UNCR.dcm')
    gsps = pydicom.dcmread(dicom_out / 'RG1_UNCR.gsps.dcm')
    rendered = render_presentation_state(image, gsps)
    gray = read_xray(inputs / 'RG1_UNCR.dcm', channels=1)
    untouched = (rendered[..., 0] == rendered[..., 1]) & (rendered[..., 1] == rendered[..., 2])
    assert untouched.mean() > 0.9
    difference = np.abs(rendered[..., 0].astype(int) - gray.astype(int))[untouched]
    assert difference.max() <= 1

    plain = render_presentation_state(image, _without_graphics(gsps))[..., 0].astype(float)
    rows = slice(plain.shape[0] // 4, plain.shape[0] // 2)  # upper half of the lungs
    width = plain.shape[1]
    mediastinum = plain[rows, int(width * 0.45):int(width * 0.55)].mean()
    lungs = np.concatenate([plain[rows, int(width * 0.2):int(width * 0.35)],
                            plain[rows, int(width * 0.65):int(width * 0.8)]], axis=1).mean()
    assert lungs + 30 < mediastinum
    # The boxes are drawn in their layer's colour.
    coloured = ~untouched
    assert coloured.any()


def _without_graphics(gsps):
    copy = pydicom.Dataset(gsps)
    for keyword in ('GraphicAnnotationSequence', 'GraphicLayerSequence'):
        if keyword in copy:
            delattr(copy, keyword)
    return copy


def test_boxes_map_back_to_the_original_grid(checkpoint, tmp_path, capsys):
    """A 128 x 96 picture and the same picture stored 4x larger (each pixel a 4 x 4 block, as a
    DICOM file): the detector sees the same resized image (bilinear resizing of 4 x 4 blocks by
    1/4 samples inside each block), so the large one's SR coordinates are 4x the small one's."""
    from tbmm.datasets.phantom import make_phantom_dataset

    make_phantom_dataset(str(tmp_path / 'phantom'), num_train=1, num_test=1, image_size=128,
                         seed=5)
    (png,) = (tmp_path / 'phantom' / 'test_data').glob('*.png')
    small = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)[16:112, :]  # 128 x 96: not square
    small[0, 0], small[-1, -1] = 0, 255  # the full range: the DICOM reader's stretch is identity
    inputs = tmp_path / 'inputs'
    inputs.mkdir()
    cv2.imwrite(str(inputs / 'small.png'), small)
    large = np.kron(small, np.ones((4, 4), np.uint8))
    uids = {k: pydicom.uid.generate_uid() for k in ('StudyInstanceUID', 'SeriesInstanceUID')}
    # A bare file (no patient or study attributes but its UIDs): the results still get written.
    write_dicom(str(inputs / 'large.dcm'), large.astype(np.uint16), bits_stored=8, **uids)
    assert infer(CONFIG, checkpoint, inputs, '--out-dir', tmp_path / 'out', '--dicom-out',
                 tmp_path / 'dicom', '--score-thr', SCORE_THR, '--no-progress', *OPTIONS) == 0
    records = {r['file_name']: r for r in
               json.loads((tmp_path / 'out' / 'predictions.json').read_text())}
    small_findings = findings(records['small.png'])
    assert small_findings, 'compare real boxes'
    sr = hd.sr.srread(tmp_path / 'dicom' / 'large.sr.dcm')
    read = [(g.finding_type.meaning, polyline_box(g.roi.value))
            for g in sr.content.get_planar_roi_measurement_groups()]
    assert len(read) == len(small_findings)
    for (cls, box, _), (meaning, large_box) in zip(small_findings, read):
        # predictions.json rounds to 0.01 px: 4x that, plus float32.
        assert np.allclose(large_box, np.multiply(box, 4), atol=0.05), (cls, meaning)
    assert not (tmp_path / 'dicom' / 'small.sr.dcm').exists()  # PNG inputs get no DICOM
