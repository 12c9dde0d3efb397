"""Throughput of a detector config: training step, end-to-end training, inference, data loading.

:func:`run_benchmark` builds the config's model (random weights, no downloads), its optimizer
wrapper and, for data on disk, its data loaders, and times iterations after a warm-up:

* ``train`` + synthetic data: the model step alone (preprocessor with the host-to-device copy,
  forward, losses, backward, optimizer) on a fixed random batch;
* ``train`` + ``ANN.json,IMG_DIR``: end to end, each iteration's time including waiting for the
  config's data loader (decode from PNG files, resize, flip, collate);
* ``infer``: ``test_step`` under ``torch.no_grad`` (and autocast with ``amp``; by default the
  precision tools/test.py and tools/infer.py run the config in), synthetic or from disk;
* ``data``: the training data loader alone, for comparison with what the training step consumes.

Reported: ms/iter (median for a fixed synthetic batch; mean when a data loader feeds the step,
after draining the batches its workers queue ahead), img/s (batch size / that), peak memory
(CUDA: allocated by tensors; CPU: resident set size sampled during the timed phase, and the
process's lifetime maximum from ``getrusage``). :func:`run_comparison` runs the same
measurement for stock MMDetection's ``retinanet_r101_fpn_1x_coco.py`` (with this config's
number of classes, input size, data set and settings) in the same process and gives the ratio.
``tools/analysis_tools/benchmark.py`` is the command line; :func:`step_breakdown` times the parts
of a step and :func:`run_suite` measures a list of runs (the repository's lists:
``tools/analysis_tools/benchmark_suites.py``).

Modules: :mod:`.settings`, :mod:`.configs` (ours and stock set up alike), :mod:`.workload` (the
timing), :mod:`.breakdown`, :mod:`.report` (text and markdown) and :mod:`.suite`.
"""
from tbmm.benchmark.breakdown import step_breakdown
from tbmm.benchmark.configs import STOCK_CONFIG, prepare_config, set_amp, stock_config
from tbmm.benchmark.report import format_result, markdown_table
from tbmm.benchmark.settings import (
                                     AMP_MODES,
                                     TASKS,
                                     BenchmarkResult,
                                     BenchmarkSettings,
                                     BenchmarkSettingsError,
)
from tbmm.benchmark.suite import SuiteRun, failed_runs, run_suite, with_overrides
from tbmm.benchmark.workload import (
                                     Workload,
                                     measure,
                                     run_benchmark,
                                     run_comparison,
                                     synthetic_batch,
)

__all__ = ['AMP_MODES', 'STOCK_CONFIG', 'TASKS', 'BenchmarkResult', 'BenchmarkSettings',
           'BenchmarkSettingsError', 'SuiteRun', 'Workload', 'failed_runs', 'format_result',
           'markdown_table', 'measure', 'prepare_config', 'run_benchmark', 'run_comparison',
           'run_suite', 'set_amp', 'step_breakdown', 'stock_config', 'synthetic_batch',
           'with_overrides']
