"""tools/analysis_tools/benchmark.py: every mode runs an iteration or two and prints its rates.

No test asserts a speed."""
import json
import subprocess
import sys

import pytest

from tbmm.benchmark import BenchmarkSettings, BenchmarkSettingsError, synthetic_batch

FAST_BF16 = 'configs/tb_retinanet/fast/retinanet_r101_fpn_10e_chestxdet_fast_bf16.py'
MAIN = 'configs/tb_retinanet/retinanet_r101_fpn_10e_chestxdet.py'
PHANTOM = 'configs/tb_retinanet/phantom/retinanet_r18_fpn_phantom.py'
TINY = ['--device', 'cpu', '--image-size', '128', '--batch-size', '1', '--iters', '1',
        '--warmup', '1', '--num-workers', '0']


@pytest.fixture(scope='module')
def disk_data(tmp_path_factory):
    from tbmm.datasets.phantom import make_phantom_dataset
    phantom = make_phantom_dataset(tmp_path_factory.mktemp('bench_phantom'), num_train=3,
                                   num_test=0, image_size=128, seed=3)
    return f'{phantom.train_ann_file},{phantom.train_img_dir}'


@pytest.fixture
def benchmark_main(repo_root, monkeypatch):
    from tools.analysis_tools.benchmark import main
    monkeypatch.chdir(repo_root)
    return main


def test_train_step_on_synthetic_batches(benchmark_main, capsys):
    record = benchmark_main([FAST_BF16, '--task', 'train'] + TINY)
    out = capsys.readouterr().out
    assert 'img/s' in out and 'ms/iter' in out and 'peak RSS' in out
    result = record['ours']
    assert result['amp'] == 'bf16' and result['data'] == 'synthetic'
    assert result['img_per_s'] > 0 and result['peak_memory_mb'] > 0
    assert len(result['ms_per_iter_all']) == 1  # the warm-up iteration is not timed


def test_train_end_to_end_from_png_files(benchmark_main, disk_data, capsys):
    record = benchmark_main([FAST_BF16, '--task', 'train', '--data', disk_data] + TINY)
    assert 'train (disk)' in capsys.readouterr().out
    assert record['ours']['data'] == 'disk' and record['ours']['iters'] == 1


def test_inference_synthetic_and_from_disk(benchmark_main, disk_data, capsys):
    benchmark_main([PHANTOM, '--task', 'infer', '--amp', 'bf16'] + TINY)
    benchmark_main([PHANTOM, '--task', 'infer', '--data', disk_data] + TINY)
    out = capsys.readouterr().out
    assert 'infer (synthetic)' in out and 'infer (disk)' in out


def test_data_loader_alone_compared_with_stock_pipeline(benchmark_main, disk_data, capsys,
                                                        tmp_path):
    out_json = tmp_path / 'results.jsonl'
    # One after the other, as on a GPU (the training comparison below interleaves).
    record = benchmark_main([FAST_BF16, '--task', 'data', '--data', disk_data, '--compare-stock',
                             '--interleave', 'no', '--json', str(out_json), '--label', 'data']
                            + TINY)
    out = capsys.readouterr().out
    assert 'data (disk)' in out and 'mmdet-stock: data (disk)' in out and 'ratio' in out
    assert record['ratio'] > 0
    assert json.loads(out_json.read_text().splitlines()[-1])['label'] == 'data'


def test_compare_stock_training_step_prints_ratio(benchmark_main, capsys):
    record = benchmark_main([MAIN, '--task', 'train', '--compare-stock', '--stock-amp', 'none']
                            + TINY)
    out = capsys.readouterr().out
    assert 'mmdet-stock: train (synthetic)' in out and 'ratio (img/s vs stock)' in out
    assert record['stock']['batch_size'] == record['ours']['batch_size'] == 1
    assert record['stock']['amp'] == 'none'


def test_settings_refuse_what_cannot_run(tmp_path):
    with pytest.raises(ValueError, match='--data'):
        BenchmarkSettings(task='data')
    with pytest.raises(ValueError, match='ANN.json,IMG_DIR'):
        BenchmarkSettings(data=str(tmp_path))
    with pytest.raises(ValueError, match='amp'):
        BenchmarkSettings(amp='fp8')


def test_fp16_on_cpu_is_refused(benchmark_main):
    with pytest.raises(ValueError, match='bf16'):
        benchmark_main([PHANTOM, '--task', 'infer', '--amp', 'fp16'] + TINY)


def test_cuda_without_a_cuda_device_is_one_line(benchmark_main, monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(BenchmarkSettingsError,
                       match='--device cuda, but this torch .* sees no CUDA device'):
        benchmark_main([MAIN, '--device', 'cuda'])


def test_synthetic_batch_looks_like_the_data_loader_output():
    batch = synthetic_batch(2, 64, channels=1, num_classes=9)
    assert [tuple(t.shape) for t in batch['inputs']] == [(1, 64, 64)] * 2
    sample = batch['data_samples'][0]
    assert sample.img_shape == (64, 64) and len(sample.gt_instances) == 3
    assert int(sample.gt_instances.labels.max()) < 9


def test_loader_fed_runs_drain_the_worker_queue_before_timing(disk_data):
    # With workers, the first num_workers x prefetch_factor batches are ready before timing starts;
    # timing them would report the queue, not the workers.
    from tbmm.benchmark import BenchmarkSettings, run_benchmark
    settings = BenchmarkSettings(task='data', device='cpu', data=disk_data, batch_size=1,
                                 image_size=64, iters=2, warmup=0, num_workers=2)
    result = run_benchmark(FAST_BF16, settings)
    assert result.warmup == 2 * 2 + 1
    assert result.iters == 2
    assert result.ms_per_iter == pytest.approx(sum(result.ms_per_iter_all) / 2)


def test_breakdown_times_each_part_of_the_step_and_writes_the_profile(benchmark_main, tmp_path,
                                                                      capsys):
    profile = tmp_path / 'profile.txt'
    record = benchmark_main([PHANTOM, '--breakdown', '--profile', str(profile)] + TINY)
    parts = record['breakdown_ms']
    assert list(parts) == ['train_step', 'data_preprocessor', 'network', 'targets_and_loss']
    assert all(ms > 0 for ms in parts.values())
    # the whole step does at least the network's work
    assert parts['train_step'] > parts['data_preprocessor']
    assert 'aten::' in profile.read_text()
    assert 'copies by input shape' in profile.read_text()
    import gzip
    with gzip.open(str(profile) + '.trace.json.gz', 'rt') as trace:
        assert '"traceEvents"' in trace.read()
    assert 'targets_and_loss:' in capsys.readouterr().out


def test_breakdown_of_an_inference_step(benchmark_main, capsys):
    record = benchmark_main([FAST_BF16, '--breakdown', '--task', 'infer'] + TINY)
    parts = record['breakdown_ms']
    assert list(parts) == ['test_step', 'data_preprocessor', 'network', 'postprocess']
    assert all(ms > 0 for ms in parts.values())
    assert 'postprocess:' in capsys.readouterr().out


def test_loader_fed_runs_have_no_epoch_boundaries(disk_data):
    # 3 images at batch 2: a per-epoch loader would end (and restart its workers) every 2 batches;
    # the benchmark's loader goes on, so no timed iteration waits for an epoch restart.
    from mmengine.dataset import InfiniteSampler

    from tbmm.benchmark import Workload, prepare_config
    settings = BenchmarkSettings(task='data', device='cpu', data=disk_data, batch_size=2,
                                 image_size=64, iters=1, warmup=0, num_workers=0)
    cfg = prepare_config(FAST_BF16, settings)
    workload = Workload(cfg, settings, 'fast')
    assert isinstance(workload.loader.sampler, InfiniteSampler)
    images = [workload._next_batch()['inputs'] for _ in range(5)]
    assert sum(len(batch) for batch in images) == 10
    assert cfg.train_dataloader.sampler.type == 'DefaultSampler'  # the config is not changed


def test_compare_stock_exits_1_when_the_stock_run_fails(repo_root, disk_data):
    # fp16 autocast is refused on the CPU: ours measures, stock fails, and there is no ratio.
    proc = subprocess.run(
        [sys.executable, 'tools/analysis_tools/benchmark.py', PHANTOM, '--task', 'data',
         '--data', disk_data, '--compare-stock', '--stock-amp', 'fp16', '--interleave', 'no']
        + TINY,
        cwd=repo_root, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'mmdet-stock: failed: BenchmarkSettingsError: fp16 autocast is for CUDA' in proc.stdout
    assert 'the stock run failed, so there is no ratio (exit status 1)' in proc.stderr
    from tools.analysis_tools.benchmark import exit_status
    assert exit_status({'ours': {}, 'stock_error': 'x', 'ratio': None}) == 1
    assert exit_status({'ours': {}, 'stock': {}, 'ratio': 1.0}) == 0
    assert exit_status([{'label': 'a', 'ours': {}, 'stock_error': 'x', 'ratio': None}]) == 1
