"""Benchmark results for people: one line per result, a markdown table of JSON-lines records."""
import json

from tbmm.benchmark.settings import BenchmarkResult

__all__ = ['format_result', 'markdown_table']


def format_result(result: BenchmarkResult):
    """One line: what ran, img/s, ms/iter (median or mean of how many) and peak memory."""
    memory = 'GPU max allocated' if result.memory_kind == 'cuda_max_allocated' else 'peak RSS'
    return (f'{result.name}: {result.task} ({result.data}), {result.device}, amp={result.amp}, '
            f'batch {result.batch_size}, {result.image_size}px: {result.img_per_s:.2f} img/s, '
            f'{result.ms_per_iter:.1f} ms/iter '
            f'({"median" if result.data == "synthetic" else "mean"} of {result.iters}, '
            f'{result.warmup} warm-up), '
            f'{memory} {result.peak_memory_mb:.0f} MiB')


def markdown_table(jsonl_path):
    """The records ``tools/analysis_tools/benchmark.py --json`` appended to ``jsonl_path``, as a
    markdown table."""
    lines = ['| run | task | data | amp (ours / stock) | batch (ours / stock) | ours img/s | '
             'stock img/s | ratio | ours ms/iter | peak MiB (ours / stock) |',
             '|---|---|---|---|---|---|---|---|---|---|']
    with open(jsonl_path) as f:
        for line in f:
            record = json.loads(line)
            if 'ours' not in record:  # a suite run that failed or was skipped
                lines.append(f"| {record.get('label') or record['config']} | failed: "
                             f"{record.get('error', '?')[:100]} |" + ' |' * 8)
                continue
            ours, stock = record['ours'], record.get('stock')
            ratio = record.get('ratio')
            if stock:
                stock_cells = (f"{ours['amp']} / {stock['amp']}",
                               f"{ours['batch_size']} / {stock['batch_size']}",
                               f"{stock['img_per_s']:.2f}", f'{ratio:.2f}x',
                               f"{ours['peak_memory_mb']:.0f} / {stock['peak_memory_mb']:.0f}")
            else:
                failed = record.get('stock_error')
                stock_cells = (ours['amp'], str(ours['batch_size']),
                               f'failed: {failed}'[:80] if failed else '-', '-',
                               f"{ours['peak_memory_mb']:.0f}")
            amp_cell, batch_cell, stock_rate, ratio_cell, memory_cell = stock_cells
            lines.append(f"| {record.get('label') or record['config']} | {ours['task']} | "
                         f"{ours['data']} | {amp_cell} | {batch_cell} | {ours['img_per_s']:.2f} | "
                         f"{stock_rate} | {ratio_cell} | {ours['ms_per_iter']:.1f} | "
                         f"{memory_cell} |")
    return '\n'.join(lines) + '\n'
