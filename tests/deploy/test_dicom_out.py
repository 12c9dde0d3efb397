"""python -m tbmm.deploy --dicom-out (torch refused, as in every deploy test) writes the SR and GSPS
that tools/infer.py --dicom-out writes: same findings, on pydicom-data's real chest CR."""
import hashlib
import json
import shutil

import numpy as np
import pytest

from tbmm.dicom.codes import finding_code
from tests.deploy.conftest import run_deploy

pytest.importorskip('onnxruntime')
pytest.importorskip('onnx')
pydicom = pytest.importorskip('pydicom')
hd = pytest.importorskip('highdicom')
pytest.importorskip('data_store', reason='pydicom-data (the dev extra) holds the test radiograph')

SCORE_THR = 0.1


def sr_findings(path):
    out = []
    for group in hd.sr.srread(path).content.get_planar_roi_measurement_groups():
        points = np.asarray(group.roi.value, dtype=np.float64).reshape(-1, 2)
        (score,) = [m.value for m in group.get_measurements() if m.name.value == '111012']
        out.append((group.finding_type.meaning, [*points[0], *points[2]], score))
    return out


def test_runtime_writes_the_dicom_results_of_its_predictions(exported, tmp_path):
    from pydicom.data import get_testdata_file

    _, checkpoint, model = exported('main')
    folder = tmp_path / 'in'
    folder.mkdir()
    shutil.copy(get_testdata_file('RG1_UNCR.dcm'), folder / 'RG1_UNCR.dcm')
    run = run_deploy(model, folder, '--out-dir', tmp_path / 'out', '--dicom-out',
                     tmp_path / 'dicom', '--score-thr', SCORE_THR, '--no-progress')
    assert run.returncode == 0, run.stderr[-3000:]
    assert 'DICOM:       1 SR + GSPS pair(s)' in run.stdout
    (record,) = json.loads((tmp_path / 'out' / 'predictions.json').read_text())
    expected = [(s, b, p) for s, b, p in zip(record['syms'], record['boxes'], record['scores'])
                if p >= SCORE_THR]
    assert expected, 'compare real findings'
    found = sr_findings(tmp_path / 'dicom' / 'RG1_UNCR.sr.dcm')
    assert [m for m, _, _ in found] == [finding_code(s)[2] for s, _, _ in expected]
    assert np.allclose([b for _, b, _ in found], [b for _, b, _ in expected], atol=1e-3)
    assert np.allclose([p for _, _, p in found], [p for _, _, p in expected], atol=1e-6)
    gsps = pydicom.dcmread(tmp_path / 'dicom' / 'RG1_UNCR.gsps.dcm')
    assert gsps.PresentationLUTShape == 'INVERSE'
    # The algorithm named in the SR: the checkpoint the model was exported from.
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    sr_bytes = (tmp_path / 'dicom' / 'RG1_UNCR.sr.dcm').read_bytes()
    assert f'model sha256: {digest}'.encode() in sr_bytes
