"""A list of benchmark runs measured in one process, each against stock MMDetection.

:func:`run_suite` measures each :class:`SuiteRun`: one process saves the imports and start-up of
each run (the GPU machine is lent by the minute); every run still builds its own model and stock's,
and a run that fails is recorded and the suite goes on. Each record is appended to the JSON-lines
file as soon as it is measured, so a suite cut short keeps what it measured. The lists of this
repository's configs (``--suite gpu`` etc.) live beside the tool, in
``tools/analysis_tools/benchmark_suites.py``.
"""
import json
import time
import traceback
from dataclasses import dataclass, field, replace
from typing import Dict, Optional

from tbmm.benchmark.report import format_result
from tbmm.benchmark.settings import BenchmarkResult, BenchmarkSettings
from tbmm.benchmark.workload import run_benchmark, run_comparison
from tbmm.utils import ensure_parent_dir

__all__ = ['SuiteRun', 'run_suite', 'failed_runs', 'with_overrides']


@dataclass
class SuiteRun:
    """One run: ``config`` under these settings, compared with stock under the same ones.

    ``batch_size`` and ``num_workers`` apply to both sides (None: each config's own);
    ``stock_amp`` is stock's autocast (None: the same as ours); ``disk`` reads the suite's PNG data
    set instead of a synthetic batch.
    """
    label: str
    config: str
    task: str
    amp: Optional[str] = None
    stock_amp: Optional[str] = None
    batch_size: Optional[int] = None
    num_workers: Optional[int] = None
    disk: bool = False
    cfg_options: Dict = field(default_factory=dict)
    compare_stock: bool = True
    warmup: Optional[int] = None  # None: the suite's


def run_suite(runs, device, json_path, data=None, image_size=1024, iters=15, warmup=5,
              log=print):
    """Measure each of ``runs``; append one JSON record per run to ``json_path``.

    ``data`` is ``'ANN.json,IMG_DIR'`` for the runs that read from disk (they are skipped, with a
    record saying so, when it is None). Returns the records.
    """
    ensure_parent_dir(json_path)
    records = []
    for run in runs:
        started = time.perf_counter()
        record = dict(label=run.label, config=run.config, cfg_options=run.cfg_options or None)
        if run.disk and data is None:
            record['error'] = 'skipped: no data on disk given (--data ANN.json,IMG_DIR)'
        else:
            settings = BenchmarkSettings(
                task=run.task, device=device, data=data if run.disk else 'synthetic',
                batch_size=run.batch_size, amp=run.amp, image_size=image_size, iters=iters,
                warmup=warmup if run.warmup is None else run.warmup,
                num_workers=run.num_workers)
            try:
                record.update(_measure(run, settings))
            except Exception as error:  # noqa: BLE001  (recorded; the other runs go on)
                record['error'] = f'{type(error).__name__}: {error}'
                record['traceback'] = traceback.format_exc(limit=-4)
        record['seconds'] = round(time.perf_counter() - started, 1)
        with open(json_path, 'a') as f:
            f.write(json.dumps(record) + '\n')
        log(_summary(record))
        records.append(record)
    return records


def failed_runs(records):
    """The records of runs that failed, ours or the stock side of a comparison (not those skipped
    for want of data on disk)."""
    return [r for r in records
            if ('error' in r and not r['error'].startswith('skipped:')) or r.get('stock_error')]


def _measure(run, settings):
    cfg_options = dict(run.cfg_options) if run.cfg_options else None
    if not run.compare_stock:
        return dict(ours=run_benchmark(run.config, settings, cfg_options).as_dict())
    ours, stock, ratio = run_comparison(run.config, settings, cfg_options,
                                        stock_amp=run.stock_amp)
    if ratio is None:
        return dict(ours=ours.as_dict(), stock_error=stock, ratio=None)
    return dict(ours=ours.as_dict(), stock=stock.as_dict(), ratio=ratio)


def _summary(record):
    head = f"== {record['label']} ({record['seconds']} s)"
    if 'error' in record:
        return f"{head}\n   FAILED: {record['error']}"
    lines = [head, '   ' + format_result(BenchmarkResult(**record['ours']))]
    if record.get('stock'):
        lines.append('   ' + format_result(BenchmarkResult(**record['stock'])))
        lines.append(f"   ratio (img/s vs stock): {record['ratio']:.2f}x")
    elif record.get('stock_error'):
        lines.append(f"   mmdet-stock: failed: {record['stock_error']}")
    return '\n'.join(lines)


def with_overrides(runs, **changes):
    """``runs`` with the same fields changed in each (e.g. a small batch for a CPU check)."""
    return [replace(run, **changes) for run in runs]
