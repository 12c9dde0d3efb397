"""tbmm.dicom without a model: which boxes are findings, a report without findings, inputs the
writer cannot use, output names, and the package staying light (no torch)."""
import shutil
import subprocess
import sys

import pytest

from tbmm.dicom import AlgorithmInfo, DicomResultWriter, findings_of, result_names

pydicom = pytest.importorskip('pydicom')
hd = pytest.importorskip('highdicom')
pytest.importorskip('data_store', reason='pydicom-data (the dev extra) holds the test radiographs')
from pydicom.data import get_testdata_file  # noqa: E402

ALGORITHM = AlgorithmInfo('retinanet_test', '0.0.0', ('0' * 64,))
RECORD = dict(file_name='RG1_UNCR.dcm', syms=['Mass', 'Nodule', 'Mass'],
              boxes=[[10, 10, 50, 60], [100, 120, 140, 170], [300, 300, 400, 380]],
              scores=[0.9, 0.4, 0.2])


def test_findings_follow_the_threshold_and_the_class_thresholds():
    assert [s for _, _, s in findings_of(RECORD, score_thr=0.3)] == [0.9, 0.4]
    assert [s for _, _, s in findings_of(RECORD, score_thr=0.4)] == [0.9, 0.4]  # at counts
    # A class's threshold replaces score_thr for that class only.
    assert [s for _, _, s in findings_of(RECORD, 0.95, {'Mass': 0.1})] == [0.9, 0.2]


def test_report_without_findings_passes_dciodvfy(tmp_path):
    writer = DicomResultWriter(tmp_path, ALGORITHM, score_thr=0.95)
    sr_path, gsps_path = writer.write(get_testdata_file('RG1_UNCR.dcm'), RECORD)
    sr = hd.sr.srread(sr_path)
    assert sr.content.get_planar_roi_measurement_groups() == []
    (group,) = sr.content.get_image_measurement_groups()
    assert (group.finding_type.value, group.finding_type.meaning) == ('260413007', 'None')
    assert 'GraphicAnnotationSequence' not in pydicom.dcmread(gsps_path)
    dciodvfy = shutil.which('dciodvfy')
    if dciodvfy is None:
        pytest.skip('dciodvfy missing: apt-get install dicom3tools (.ci/run installs it)')
    for path in (sr_path, gsps_path):
        report = subprocess.run([dciodvfy, path], capture_output=True, text=True, timeout=60)
        errors = [line for line in (report.stdout + report.stderr).splitlines()
                  if line.startswith('Error')]
        assert errors == [], path


def test_unusable_inputs_are_counted_or_reported(tmp_path):
    writer = DicomResultWriter(tmp_path / 'out', ALGORITHM, score_thr=0.3)
    png = tmp_path / 'a.png'
    png.write_bytes(b'\x89PNG\r\n\x1a\n')
    assert writer.write(png, dict(RECORD, file_name='a.png')) is None
    assert writer.n_not_dicom == 1
    no_uid = pydicom.dcmread(get_testdata_file('RG1_UNCR.dcm'), stop_before_pixels=True)
    del no_uid.StudyInstanceUID
    no_uid.save_as(tmp_path / 'no_study.dcm')
    assert writer.write(tmp_path / 'no_study.dcm', dict(RECORD, file_name='no_study.dcm')) is None
    ((name, reason),) = writer.failures
    assert name == 'no_study.dcm' and reason.startswith('no DICOM results: ')
    assert '\n' not in reason
    assert not (tmp_path / 'out').exists()


def test_result_names_keep_folders_and_never_collide(tmp_path):
    assert result_names('a/b.dcm') == ('a/b.sr.dcm', 'a/b.gsps.dcm')
    assert result_names('c.DICOM') == ('c.sr.dcm', 'c.gsps.dcm')
    writer = DicomResultWriter(tmp_path, ALGORITHM)
    source = get_testdata_file('RG1_UNCR.dcm')
    first = writer.write(source, dict(RECORD, file_name='x/b.dcm'))
    second = writer.write(source, dict(RECORD, file_name='x/b.dicom'))
    assert first[0].endswith('x/b.sr.dcm') and len({*first, *second}) == 4


def test_package_imports_no_torch():
    code = ('import sys, tbmm.dicom, tbmm.dicom.render; '
            'print(sorted(m for m in ("torch", "mmdet", "mmengine") if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == '[]'
