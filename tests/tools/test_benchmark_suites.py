"""tools/analysis_tools/benchmark.py --suite and its lists
(tools/analysis_tools/benchmark_suites.py): every run names a config of this checkout, the GPU
suite measures every mode against stock, failed runs exit 1."""
import pytest

from tbmm.benchmark import with_overrides
from tools.analysis_tools.benchmark_suites import (
    FAST_FP16_COMPILE,
    GPU_COMPILE_FP16_SUITE,
    GPU_COMPILE_SUITE,
    GPU_SUITE,
    MAIN,
    SUITES,
)


def test_gpu_suite_measures_every_mode_against_stock():
    labels = [run.label for run in GPU_SUITE]
    assert len(set(labels)) == len(labels)
    assert {run.task for run in GPU_SUITE} == {'train', 'infer', 'data'}
    assert any(run.disk and run.task == 'train' for run in GPU_SUITE)  # end to end
    assert all(run.compare_stock for run in GPU_SUITE)
    small = with_overrides(GPU_SUITE, batch_size=1)
    assert {run.batch_size for run in small} == {1}
    assert [run.label for run in small] == labels


def test_every_suite_run_names_a_config_that_exists(repo_root):
    for run in GPU_SUITE + GPU_COMPILE_SUITE:
        assert (repo_root / run.config).is_file(), run.label
    assert all(run.config.endswith('_compile.py') for run in GPU_COMPILE_SUITE)


def test_fp16_compile_suite_is_the_end_to_end_decision():
    # gpu_checks.sh fp16 decides issue #5's end-to-end target on these rows: the compiled fp16
    # config from PNG files on disk against stock fp16, and its model step.
    assert SUITES['compile-fp16'] == GPU_COMPILE_FP16_SUITE
    assert {run.config for run in GPU_COMPILE_FP16_SUITE} == {FAST_FP16_COMPILE}
    assert [(run.task, run.disk) for run in GPU_COMPILE_FP16_SUITE] == [('train', True),
                                                                       ('train', False)]
    assert all(run.stock_amp == 'fp16' and run.compare_stock for run in GPU_COMPILE_FP16_SUITE)


def test_suite_command_line(repo_root, monkeypatch, tmp_path, capsys):
    from tools.analysis_tools.benchmark import main
    monkeypatch.chdir(repo_root)
    with pytest.raises(SystemExit):
        main(['--suite', 'gpu'])  # no --json
    with pytest.raises(SystemExit):
        main([MAIN, '--suite', 'gpu', '--json', str(tmp_path / 'x.jsonl')])
    assert '--suite needs --json' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(['--suite', 'no-such-suite', '--json', str(tmp_path / 'x.jsonl')])
    assert 'compile-fp16' in capsys.readouterr().err  # the choices come from SUITES
    with pytest.raises(SystemExit):
        main([MAIN, '--profile', str(tmp_path / 'p.txt')])  # without --breakdown
    assert '--profile writes the profiler table of --breakdown' in capsys.readouterr().err


def test_suite_with_a_failed_run_exits_1(repo_root, monkeypatch, tmp_path, capsys):
    from tools.analysis_tools.benchmark import exit_status, main
    monkeypatch.chdir(repo_root)
    # On a CPU the fp16 model-step row fails; the end-to-end row is skipped (no --data).
    records = main(['--suite', 'compile-fp16', '--device', 'cpu', '--json',
                    str(tmp_path / 'x.jsonl'), '--image-size', '64', '--iters', '1'])
    assert [r['error'].split(':')[0] for r in records] == ['skipped', 'BenchmarkSettingsError']
    assert exit_status(records) == 1
    assert '1 of 2 run(s) failed: train-fast_fp16_compile' in capsys.readouterr().err
    assert exit_status(records[:1]) == 0  # skipped only
    assert exit_status(2) == 2
