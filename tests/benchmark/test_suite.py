"""tbmm.benchmark.suite: a list of runs in one process, failures recorded, records appended."""
import json

from tbmm.benchmark import SuiteRun, markdown_table, run_suite, with_overrides

MAIN = 'configs/tb_retinanet/retinanet_r101_fpn_10e_chestxdet.py'


def test_suite_records_each_run_and_goes_on_after_a_failure(tmp_path):
    runs = [
        SuiteRun('fp16-on-cpu', MAIN, 'train', 'fp16', 'fp16', 1),  # refused on the CPU
        SuiteRun('fp32', MAIN, 'infer', 'none', 'none', 1),
        SuiteRun('needs-disk', MAIN, 'data', disk=True),
    ]
    json_path = tmp_path / 'suite.jsonl'
    lines = []
    records = run_suite(runs, 'cpu', str(json_path), image_size=64, iters=1, warmup=0,
                        log=lines.append)
    stored = [json.loads(line) for line in json_path.read_text().splitlines()]
    assert [r['label'] for r in stored] == ['fp16-on-cpu', 'fp32', 'needs-disk']
    assert 'fp16 autocast is for CUDA' in stored[0]['error']
    assert stored[1]['ratio'] > 0 and stored[1]['stock']['batch_size'] == 1
    assert stored[2]['error'].startswith('skipped')
    assert records == stored
    assert 'FAILED' in lines[0] and 'ratio' in lines[1]
    table = markdown_table(str(json_path)).splitlines()
    assert len(table) == 2 + 3
    assert '| fp16-on-cpu | failed: BenchmarkSettingsError' in table[2]
    assert table[3].startswith('| fp32 | infer | synthetic | none / none | 1 / 1 |')


def test_overrides_change_every_run_and_keep_the_rest():
    runs = [SuiteRun('a', MAIN, 'train', batch_size=8), SuiteRun('b', MAIN, 'infer', disk=True)]
    small = with_overrides(runs, batch_size=1)
    assert [run.batch_size for run in small] == [1, 1]
    assert [(run.label, run.task, run.disk) for run in small] == [('a', 'train', False),
                                                                  ('b', 'infer', True)]
    assert runs[0].batch_size == 8  # the given runs are not changed
