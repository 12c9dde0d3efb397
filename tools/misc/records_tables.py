#!/usr/bin/env python
"""Derive the README's and docs' result tables (and some sentences' numbers) from docs/records/.

    python tools/misc/records_tables.py           # print every derived table and phrase
    python tools/misc/records_tables.py --check   # exit 1, naming each table or phrase that differs
    python tools/misc/records_tables.py --write   # rewrite the marked tables in place

A derived table follows a marker line ``<!-- derived: NAME -->`` in its document; a derived phrase
must appear in its document word for word. tests/tools/test_records_tables.py runs --check's
comparison, so a number changed in a record or in a document alone fails the tests.

Records (docs/records/): gpu_h200_2026-11-26.jsonl and phantom_accuracy_2026-11-26.jsonl are
transcribed from the pages that first showed the runs (their raw output was not committed; each
record names that commit, the code's commit, the command and the machine); nih_cv/ holds the raw
files the cross-validation tools wrote.
"""
import argparse
import json
import statistics
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from tbmm.analysis.records import (
    DerivedPhrase,
    DerivedTable,
    check_documents,
    markdown_table,
    read_jsonl,
    replace_marked_table,
)

REPO = Path(__file__).resolve().parents[2]

RECORDS = REPO / 'docs' / 'records'
GPU = RECORDS / 'gpu_h200_2026-11-26.jsonl'
PHANTOM = RECORDS / 'phantom_accuracy_2026-11-26.jsonl'
DEMO = RECORDS / 'demo_2026-11-26.jsonl'
DEMO_BAND = RECORDS / 'demo_accuracy_band.jsonl'
CPU = RECORDS / 'cpu_benchmark_2026-11-26.jsonl'
PHANTOM_ANCHORS = RECORDS / 'phantom_anchors_2026-11-26.jsonl'
NIH = RECORDS / 'nih_cv'
ANCHORS = RECORDS / 'chestxdet_anchor_coverage.json'
README, BENCHMARKS, ANCHOR_DOC = 'README.md', 'docs/benchmarks.md', 'docs/anchors.md'
MIB_PER_GIB = 1024


def _load_json(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def _dec(value, places):
    """A transcribed decimal (or a mean of them) rounded half up, as the pages rounded them: the
    transcriptions are decimals, so 63.15 is 63.2 and a mean of 0.6845 is 0.685."""
    return str(_d(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def _d(value):
    """A transcribed number as the exact decimal it was written as."""
    return value if isinstance(value, Decimal) else Decimal(repr(value))


def _mean(values):
    """Exact decimal mean of transcribed values."""
    values = [_d(v) for v in values]
    return sum(values) / len(values)


# --- GPU (H200) ---------------------------------------------------------------------------------

def gpu_records(group=None, label=None):
    """The suite rows of the H200 records, optionally of one ``group`` and ``label``."""
    return [r for r in read_jsonl(GPU) if 'ours' in r and (group is None or r['group'] == group)
            and (label is None or r['label'] == label)]


def _ratio(record):
    return _d(record['ours']['img_per_s']) / _d(record['stock']['img_per_s'])


def _gpu_suite_table(group):
    rows = []
    for r in gpu_records(group):
        ours, stock = r['ours'], r['stock']
        name = r['label'] + (f" ({r['note']})" if r['note'] else '')
        rows.append([name, ours['task'], ours['data'], f"{ours['amp']} / {stock['amp']}",
                     f"{ours['batch_size']} / {stock['batch_size']}", _dec(ours['img_per_s'], 2),
                     _dec(stock['img_per_s'], 2), _dec(_ratio(r), 2) + 'x',
                     _dec(ours['ms_per_iter'], 1),
                     f"{ours['peak_memory_mb']:.0f} / {stock['peak_memory_mb']:.0f}"])
    return markdown_table(['run', 'task', 'data', 'amp (ours / stock)', 'batch (ours / stock)',
                           'ours img/s', 'stock img/s', 'ratio', 'ours ms/iter',
                           'peak MiB (ours / stock)'], rows, 'lllll' + 'r' * 5)


def e2e_bf16_runs():
    """The five end-to-end runs of ``_fast_bf16`` (no compile), in the order they ran."""
    return (gpu_records('second run', 'e2e-fast_amp-bf16')
            + gpu_records('second run, third call (fresh machine)', 'e2e-fast_amp-bf16'))


def _span(values, places, fmt=None):
    """``low–high`` of ``values`` (one value when both round alike)."""
    fmt = fmt or (lambda value: _dec(value, places))
    low, high = fmt(min(values)), fmt(max(values))
    return low if low == high else f'{low}–{high}'


def gpu_summary_table():
    """README: the headline H200 rates, each with how many runs it rests on."""
    second = {r['label']: r for r in gpu_records('second run')}
    runs = e2e_bf16_runs()
    twelve = [r for r in runs if r['ours']['num_workers'] == 12]
    fewer = [r for r in runs if r['ours']['num_workers'] != 12]
    infer_stock = [r['stock']['img_per_s'] for r in gpu_records('second run')
                   if r['ours']['task'] == 'infer' and r['stock']['amp'] == 'fp16'
                   and r['stock']['batch_size'] == 16 and not r['label'].endswith('_compile')]
    compiled_infer = second['infer-fast_amp_compile']
    usual_stock = second['infer-fast_amp-bf16']['stock']['img_per_s']

    def one(record, title):
        return [title, 1, _dec(record['ours']['img_per_s'], 1),
                _dec(record['stock']['img_per_s'], 1), _dec(_ratio(record), 2) + '×']

    def pair(a, b, title):
        return [title, '1 / 1',
                f"{_dec(a['ours']['img_per_s'], 1)} / {_dec(b['ours']['img_per_s'], 1)}",
                f"{_dec(a['stock']['img_per_s'], 1)} / {_dec(b['stock']['img_per_s'], 1)}",
                f'{_dec(_ratio(a), 2)}× / {_dec(_ratio(b), 2)}×']

    e2e_compile = one(second['e2e-fast_amp_compile'],
                      'training end to end from PNG files, batch 16: `_fast_bf16_compile` '
                      '(torch.compile), 12 data workers')
    e2e_compile[4] = f'**{e2e_compile[4]}**'
    rows = [
        e2e_compile,
        ['the same, `_fast_bf16` (no compile), 12 data workers', len(twelve),
         _span([r['ours']['img_per_s'] for r in twelve], 1),
         _span([r['stock']['img_per_s'] for r in twelve], 1),
         f"{_span([_ratio(r) for r in twelve], 2)}× "
         f"(median {_dec(statistics.median(_ratio(r) for r in twelve), 2)}×)"],
        ['the same, `_fast_bf16`, ' + ' / '.join(str(r['ours']['num_workers']) for r in fewer)
         + ' data workers', ' / '.join('1' for _ in fewer),
         ' / '.join(_dec(r['ours']['img_per_s'], 1) for r in fewer),
         ' / '.join(_dec(r['stock']['img_per_s'], 1) for r in fewer),
         ' / '.join(_dec(_ratio(r), 2) + '×' for r in fewer)],
        one(second['e2e-fast_amp-fp16'], 'the same, `_fast_fp16`, 12 data workers'),
        pair(second['train-fast_amp-bf16-batch16'], second['train-fast_amp_compile'],
             'training step alone (synthetic batch 16): `_fast_bf16` / `_fast_bf16_compile`'),
        one(second['infer-fast_amp-bf16'], 'inference, batch 16: `_fast_bf16`'),
        one(compiled_infer, 'inference, batch 16: `_fast_bf16_compile`'),
        one(second['data-fast-gray'], 'data loader alone (1-channel decode, 12 workers)'),
    ]
    against_usual = _d(compiled_infer['ours']['img_per_s']) / _d(usual_stock)
    rows[6][4] += (f' (its stock ran slow: {_span(infer_stock, 1)} in the other batch-16 '
                   f'inference rows; {_dec(against_usual, 2)}× against {_dec(usual_stock, 1)})')
    return markdown_table(['', 'runs', 'ours img/s', 'stock MMDetection fp16 img/s, same process',
                           'ratio'], rows)


def gpu_memory_phrase():
    record = gpu_records('second run', 'e2e-fast_amp-bf16')[0]
    ours, stock = record['ours']['peak_memory_mb'], record['stock']['peak_memory_mb']
    return (f'{ours / MIB_PER_GIB:.1f} GiB against stock\'s {stock / MIB_PER_GIB:.1f} GiB '
            f'({ours:.0f} / {stock:.0f} MiB')


def gpu_epochs_phrase():
    """README: the source report's 10 epochs of ~3,000 images at the measured end-to-end rates."""
    record = gpu_records('second run', 'e2e-fast_amp_compile')[0]
    images = 10 * 3000
    ours, stock = record['ours']['img_per_s'], record['stock']['img_per_s']
    return (f'about **{images / ours / 60:.1f} min** at `_fast_bf16_compile`\'s '
            f'{_dec(ours, 1)} img/s ({images / stock / 60:.1f} min at stock\'s {_dec(stock, 1)})')


def gpu_e2e_target_phrase():
    runs = e2e_bf16_runs()
    reached = sum(_ratio(r) >= 1.5 for r in runs)
    return f'{reached} of {len(runs)} runs of `_fast_bf16` without compile'


def gpu_folded_memory_phrase():
    record = gpu_records('second run', 'train-main-fp16+folded_bn')[0]
    ours, stock = record['ours']['peak_memory_mb'], record['stock']['peak_memory_mb']
    return f'{100 * (1 - ours / stock):.0f} % less memory: {ours:.0f} vs {stock:.0f} MiB'


def _times(a, b, places):
    """``a / b`` as ``'1.23×'``."""
    return _dec(_d(a) / _d(b), places) + '×'


def _second(label):
    return gpu_records('second run', label)[0]


def gpu_docs_phrases():
    """docs/benchmarks.md: the numbers its GPU bullets read off the second run's rows."""
    second = gpu_records('second run')
    noise = [r['stock']['img_per_s'] for r in second if r['ours']['task'] == 'train'
             and r['stock']['batch_size'] == 8 and r['stock']['amp'] == 'fp16']
    e2e_stock = [r['stock']['img_per_s'] for r in second + gpu_records(
        'second run, third call (fresh machine)') if r['ours']['data'] == 'disk'
        and r['ours']['task'] == 'train']

    def ratio(label):
        return _dec(_ratio(_second(label)), 2) + '×'

    nhwc, nchw = _second('train-fast_amp-bf16-batch16'), _second('train-fast_amp-bf16-batch16-nchw')
    batch32 = _second('train-fast_amp-bf16-batch32')
    loader = _second('data-fast-gray')['ours']['img_per_s']
    steps = [_second(label)['ours']['img_per_s'] for label in (
        'e2e-fast_amp-bf16', 'train-fast_amp-bf16-batch16', 'train-fast_amp_compile')]
    return [
        f"ranged {_span(noise, 1).replace('–', '-')} img/s across this run",
        f"stock trains at {_span(e2e_stock, 0).replace('–', '-')} img/s",
        f"targets **{ratio('train-main-fp16+batched_targets')}**",
        f"fused SGD {ratio('train-main-fp16+fused_sgd')}, frozen",
        f"BN affine {ratio('train-main-fp16+frozen_bn_affine')}",
        f"channels_last alone {ratio('train-main-fp16+channels_last')}, cuDNN autotuning "
        f"{ratio('train-main-fp16+cudnn_benchmark')}, bf16 {ratio('train-main-bf16+f32_focal')}",
        f"worth {_dec(_d(nhwc['ours']['img_per_s']) / _d(nchw['ours']['img_per_s']), 2)}×",
        f"({_dec(nhwc['ours']['img_per_s'], 1)} vs {_dec(nchw['ours']['img_per_s'], 1)} img/s "
        'without it)',
        f"Batch 32 gives {_dec(batch32['ours']['img_per_s'], 1)} img/s "
        f"({_dec(_ratio(batch32), 2)}×)",
        f"{_dec(loader, 0)} img/s (gray decode, 12 workers) = **{_times(loader, steps[0], 1)}** "
        f"the end-to-end step's {_dec(steps[0], 0)} img/s, {_times(loader, steps[1], 1)} the "
        f"synthetic step's {_dec(steps[1], 0)}, {_times(loader, steps[2], 2)} the compiled "
        f"step's {_dec(steps[2], 0)}",
    ]


def gpu_steady_table():
    rows = [[r['label'], _dec(r['ours_img_per_s'], 1), _dec(r['stock_img_per_s'], 1),
             _dec(_d(r['ours_img_per_s']) / _d(r['stock_img_per_s']), 2)
             + '×', r['ratio_all_shown']]
            for r in read_jsonl(GPU) if r['group'] == 'steady re-reading']
    return markdown_table(['run (same runs as above)', 'ours img/s', 'stock img/s',
                           'ratio, restarts left out', 'ratio, mean of all'], rows)


def gpu_breakdown_table():
    rows = [[r['part'], _dec(r['first_run_ms'], 1), _dec(r['second_run_ms'], 1)]
            for r in read_jsonl(GPU) if r['group'] == 'breakdown']
    return markdown_table(['part', 'first run (ms)', 'second run (ms)'], rows)


# --- CPU (the AMX machine of 2026-11-26) --------------------------------------------------------

def cpu_records(table):
    return [r for r in read_jsonl(CPU) if r['table'] == table]


def _bold_fast_bf16(record, cell):
    """The page's emphasis: the fast_bf16 rows against stock fp32."""
    key = record['run'].startswith('fast_bf16 (') or record['run'].startswith('end to end')
    return f'**{cell}**' if key else cell


def cpu_table(table):
    rows = [[_bold_fast_bf16(r, r['run']), r['ours_amp'], r['stock_amp'],
             _bold_fast_bf16(r, _dec(r['ours_img_per_s'], 2)), _dec(r['stock_img_per_s'], 2),
             _bold_fast_bf16(r, _dec(r['ratio'], 2) + '×')] for r in cpu_records(table)]
    return markdown_table(['run', 'ours', 'stock', 'ours img/s', 'stock img/s', 'ratio'], rows,
                          'lllrrr')


def cpu_data_table():
    rows = [[r['run'], _dec(r['ours_img_per_s'], 1), _dec(r['stock_img_per_s'], 1),
             _dec(r['ratio'], 2) + '×'] for r in cpu_records('cpu-data')]
    return markdown_table(['run', 'ours img/s', 'stock pipeline img/s', 'ratio'], rows)


def _per_image(record):
    """Seconds per image without start-up: (7-image run - 1-image run) / 6."""
    return (_d(record['seconds_7_images']) - _d(record['seconds_1_image'])) / 6


def cpu_infer_tool_table():
    main, fast = cpu_records('cpu-infer-tool')
    rows = [[r['run'], r['precision'], f"{_dec(r['seconds_1_image'], 1)} s",
             f"{_dec(r['seconds_7_images'], 1)} s", f'{_dec(_per_image(r), 2)} s', ratio]
            for r, ratio in ((main, ''),
                             (fast, f'**{_dec(_per_image(main) / _per_image(fast), 1)}×**'))]
    return markdown_table(['`tools/infer.py`', 'precision (its `precision:` line)', '1 image',
                           '7 images', 'per image', ''], rows, 'llrrrr')


def cpu_fast_bf16_phrase():
    """README: the fast_bf16 inference ratio against stock fp32, over its runs."""
    ratios = [r['ratio'] for r in cpu_records('cpu-infer') + cpu_records('cpu-remeasured')
              if r['run'].startswith('fast_bf16 (') or r['run'].startswith('fast_bf16 inference')]
    return (f'{_span(ratios, 1, lambda v: _dec(v, 1))}× faster than stock fp32 '
            f'(bf16 on AMX; {len(ratios)} runs')


def cpu_infer_tool_phrase():
    main, fast = cpu_records('cpu-infer-tool')
    return (f'{_dec(_per_image(main) / _per_image(fast), 1)}× faster than with the main config '
            f'({_dec(_per_image(fast), 2)} vs {_dec(_per_image(main), 2)} s per 1024² image')


def demo_bf16_phrase():
    record = next(r for r in read_jsonl(DEMO) if r['kind'] == 'bf16 inference')
    return f"mAP50 {_dec(record['mAP50'], 3)} vs {_dec(record['float32_mAP50'], 3)}"


# --- phantom accuracy ---------------------------------------------------------------------------

def phantom(experiment):
    """``{seed: record}`` of one experiment of the phantom accuracy records."""
    return {r['seed']: r for r in read_jsonl(PHANTOM) if r['experiment'] == experiment}


def _gap(runs, reference, seed, key='mAP50'):
    """``runs`` minus ``reference`` at ``seed`` (exact decimals)."""
    return _d(runs[seed][key]) - _d(reference[seed][key])


def _signed(value):
    text = _dec(value, 3)
    return ('−' + text[1:]) if text.startswith('-') else '+' + text


def _map_froc(record):
    return f"{_dec(record['mAP50'], 3)} ({_dec(record['mFROC'], 3)})" if record else ''


def _mean_row(columns, differences=()):
    """Means of each column's seeds (mAP50 and mFROC) and of each difference column."""
    cells = []
    for column in columns:
        records = list(column.values())
        cells.append(f"{_dec(_mean([r['mAP50'] for r in records]), 3)} "
                     f"({_dec(_mean([r['mFROC'] for r in records]), 3)})")
    return cells + [f'**{_signed(_mean(d))}**' for d in differences]


def phantom_levers_table():
    base, bf16 = phantom('baseline float32'), phantom('fast bf16')
    f32, compiled = phantom('fast levers float32'), phantom('fast bf16 + torch.compile')
    rows = []
    for seed in sorted(base):
        rows.append([f'seed {seed}', _map_froc(base[seed]), _map_froc(bf16[seed]),
                     _signed(_gap(bf16, base, seed)), _map_froc(f32[seed]),
                     _signed(_gap(f32, base, seed)), _map_froc(compiled.get(seed))])
    means = _mean_row([base, bf16])
    f32_mean = _mean_row([f32])[0]
    rows.append(['mean', means[0], means[1],
                 f"**{_signed(_mean([_gap(bf16, base, s) for s in base]))}**",
                 f32_mean, f"**{_signed(_mean([_gap(f32, base, s) for s in base]))}**",
                 ''])
    return markdown_table(['val epoch 12, mAP50 (mFROC)', 'baseline, float32', 'fast, bf16',
                           'fast − baseline', 'fast levers in float32', 'float32 − baseline',
                           'fast, bf16 + torch.compile'], rows)


def phantom_emulated_table():
    base, bf16 = phantom('baseline float32'), phantom('fast bf16')
    emu_bf16, emu_fp16 = phantom('fast bf16 emulated'), phantom('fast fp16 emulated')
    rows = [[f'seed {s}', _map_froc(base[s]), _map_froc(bf16[s]), _map_froc(emu_bf16[s]),
             _map_froc(emu_fp16[s]), _signed(_gap(emu_fp16, base, s))]
            for s in sorted(base)]
    rows.append(['mean'] + _mean_row([base, bf16, emu_bf16, emu_fp16], [
        [_gap(emu_fp16, base, s) for s in base]]))
    return markdown_table(['val epoch 12, mAP50 (mFROC)', 'baseline, float32', 'fast, bf16 (real)',
                           'fast, bf16 emulated', 'fast, fp16 emulated',
                           'fp16 emulated − baseline'], rows)


def phantom_current_code_table():
    base = phantom('baseline float32, current code')
    fp16 = phantom('fast fp16 emulated, current code')
    rows = [[f'seed {s}', _map_froc(base[s]), _map_froc(fp16[s]),
             _signed(_gap(fp16, base, s))] for s in sorted(base)]
    rows.append(['mean'] + _mean_row([base, fp16], [
        [_gap(fp16, base, s) for s in base]]))
    return markdown_table(['val epoch 12, mAP50 (mFROC)', 'baseline, float32',
                           'fast, fp16 emulated', 'difference'], rows)


def label_sets_table():
    """README: Effusion AP50 and mAP50 with mmdet's single-label targets and with label sets."""
    single, sets = phantom('fast bf16'), phantom('fast bf16, label sets')
    seeds = sorted(single)
    rows = []
    for title, records, key in (
            ('Effusion, single-label targets', single, 'AP50_Effusion'),
            ('Effusion, label sets', sets, 'AP50_Effusion'),
            ('mAP50, single-label targets', single, 'mAP50'),
            ('mAP50, label sets', sets, 'mAP50')):
        values = [records[s][key] for s in seeds]
        rows.append([title] + [_dec(v, 3) for v in values] + [_dec(_mean(values), 3)])
    return markdown_table(['val epoch 12, AP50'] + [f'seed {s}' for s in seeds] + ['mean'], rows)


def phantom_bf16_phrase():
    base, bf16 = phantom('baseline float32'), phantom('fast bf16')
    gaps = [_gap(bf16, base, s) for s in sorted(base)]
    return (f'scored {_dec(-_mean(gaps), 3)} mAP50 below float32 ({len(gaps)} seeds, one run each, '
            f'lower in {sum(g < 0 for g in gaps)} of {len(gaps)})')


def phantom_paired_t_phrase():
    """docs/benchmarks.md: the paired t statistic of bf16 against float32 over the seeds."""
    base, bf16 = phantom('baseline float32'), phantom('fast bf16')
    gaps = [float(_gap(bf16, base, s)) for s in sorted(base)]
    t = statistics.fmean(gaps) / (statistics.stdev(gaps) / len(gaps) ** 0.5)
    return f'paired t ≈ {t:.1f} with {len(gaps) - 1} degrees of freedom'.replace('-', '−')


def phantom_fp16_phrase():
    base, fp16 = phantom('baseline float32'), phantom('fast fp16 emulated')
    now_base = phantom('baseline float32, current code')
    now_fp16 = phantom('fast fp16 emulated, current code')
    then = _mean([_gap(fp16, base, s) for s in base])
    now = _mean([_gap(now_fp16, now_base, s) for s in now_base])
    return (f'(`EmulatedAmpOptimWrapper`, {_signed(then)}; {_signed(now)} again with the current '
            'code)')


def label_sets_spread_phrase():
    spans = [max(r['mAP50'] for r in runs.values()) - min(r['mAP50'] for r in runs.values())
             for runs in (phantom('fast bf16'), phantom('fast bf16, label sets'))]
    return f'the four seeds of one setting span {_dec(spans[0], 3)} and {_dec(spans[1], 3)} mAP50'


def label_sets_phrase():
    single, sets = phantom('fast bf16'), phantom('fast bf16, label sets')
    gains = [_gap(sets, single, s) for s in sorted(single)]
    effusion = [_gap(sets, single, s, 'AP50_Effusion') for s in sorted(single)]
    return (f'Effusion {_signed(_mean(effusion))} AP50 on average (higher in '
            f'{sum(e > 0 for e in effusion)} seeds of {len(effusion)}), mAP50 '
            f'{_signed(_mean(gains))} (per seed {", ".join(_signed(g) for g in gains)})')


# --- anchor coverage of ChestX-Det (raw tool output) --------------------------------------------

def _coverage(run):
    return _load_json(ANCHORS)[run]['anchor_coverage']


def _covered(entry):
    return f"{100 * entry['covered']['0.5']:.1f} %"


def anchor_coverage_table():
    """docs/anchors.md: share of train.json boxes whose best anchor reaches IoU 0.5, per config;
    bold where the two configs differ."""
    default, small = _coverage('train_default'), _coverage('train_small_anchors')
    rows = []
    for name in list(default['per_class']) + ['all']:
        a = default['all'] if name == 'all' else default['per_class'][name]
        b = small['all'] if name == 'all' else small['per_class'][name]
        cells = [_covered(a), _covered(b)]
        if cells[0] != cells[1] and name != 'all':
            cells = [f'**{c}**' for c in cells]
        rows.append([name, a['boxes']] + cells)
    small_name = 'anchors/retinanet_r101_fpn_10e_chestxdet_small-anchors.py'
    return markdown_table(['class', 'boxes', 'default (`retinanet_r101_fpn_10e_chestxdet.py`)',
                           f'small anchors (`{small_name}`)'], rows)


def anchor_median_phrase():
    default, small = _coverage('train_default'), _coverage('train_small_anchors')
    parts = [f"{name}{':' if k == 0 else ''} {default['per_class'][name]['median_best_iou']:.3f} → "
             f"{small['per_class'][name]['median_best_iou']:.3f}"
             for k, name in enumerate(('Calcification', 'Nodule'))]
    return 'Median best-anchor IoU, ' + '; '.join(parts)


def anchor_test_phrase():
    test = _coverage('test_default')['per_class']
    return 'covers ' + ', '.join(f'{name} {_covered(test[name])}' for name in (
        'Calcification', 'Nodule', 'Atelectasis', 'Fibrosis'))


def anchor_readme_phrase():
    default, small = _coverage('train_default'), _coverage('train_small_anchors')
    calc = [c['per_class']['Calcification']['covered']['0.5'] for c in (default, small)]
    return f'Calcification coverage {100 * calc[0]:.0f} % → {100 * calc[1]:.0f} %'


def _phantom_anchor_runs(experiment, epoch):
    runs = {}
    for r in read_jsonl(PHANTOM_ANCHORS):
        if r['experiment'] == experiment and r.get('epoch') == epoch:
            runs.setdefault(r['setting'], {})[r['class']] = r
    return runs['default anchors'], runs['small anchors']


def phantom_anchor_table(experiment, epoch, header, bold_froc):
    """docs/anchors.md: per-class AP50 (FROC) of the two anchor settings, the larger in bold; the
    mean row is the transcribed one (of the runs' unrounded values)."""
    default, small = _phantom_anchor_runs(experiment, epoch)

    def cells(a, b, key):
        x, y = _dec(a[key], 3), _dec(b[key], 3)
        if x == y:
            return x, y
        return (f'**{x}**', y) if a[key] > b[key] else (x, f'**{y}**')

    rows = []
    for name in default:
        ap = cells(default[name], small[name], 'ap50')
        froc = (cells(default[name], small[name], 'froc') if bold_froc
                else (_dec(default[name]['froc'], 3), _dec(small[name]['froc'], 3)))
        rows.append([name, f'{ap[0]} ({froc[0]})', f'{ap[1]} ({froc[1]})'])
    return markdown_table(header, rows)


def phantom_anchor_mean_phrase():
    default, small = _phantom_anchor_runs('phantom 1024², anchors', 6)
    gap = {name: _d(small[name]['ap50']) - _d(default[name]['ap50']) for name in default}
    return (f"Calcification\n{_signed(gap['Calcification'])}, Nodule {_signed(gap['Nodule'])} "
            f"at epoch 6) and the mean ({_signed(gap['mean'])})")


def phantom_anchor_epoch3_phrase():
    default, small = _phantom_anchor_runs('phantom 1024², anchors', 3)
    def ap(runs, name):
        return _dec(runs[name]['ap50'], 3)

    return (f"Calcification AP50 {ap(default, 'Calcification')} →\n"
            f"{ap(small, 'Calcification')}, Nodule {ap(default, 'Nodule')} → {ap(small, 'Nodule')} "
            f"(mean {ap(default, 'mean')} → {ap(small, 'mean')})")


def anchor_cpu_cost_phrase():
    infer, train = [r for r in read_jsonl(PHANTOM_ANCHORS)
                    if r['experiment'] == 'small-anchor cost, CPU']

    def cost(r):
        change = 100 * (_d(r['small_anchors_s']) / _d(r['default_s']) - 1)
        return (f"{_dec(r['default_s'], 2)} → {_dec(r['small_anchors_s'], 2)} s "
                f"(+{_dec(change, 0)} %)")
    return f'inference at 1024²\n{cost(infer)}, a training step at 512² {cost(train)}'


# --- the demo ----------------------------------------------------------------------------------

def demo_table():
    """README: the demo's per-class test metrics; the mean row is the mean over the classes."""
    classes = [r for r in read_jsonl(DEMO) if r['kind'] == 'class']
    keys = ('ap50', 'coco_ap', 'froc_avgrecall')
    rows = [[r['class'], r['n_gt']] + [_dec(r[k], 3) for k in keys] for r in classes]
    means = [_dec(_mean([r[k] for r in classes]), 3) for k in keys]
    rows.append(['**mean**', sum(r['n_gt'] for r in classes), f'**{means[0]}**'] + means[1:])
    return markdown_table(['class', 'GT', 'AP50', 'COCO AP', 'FROC'], rows)


def demo_run_phrase():
    run = next(r for r in read_jsonl(DEMO) if r['kind'] == 'run')
    return (f"Image level: AUC {run['image_auc']:.3f} ({run['n_abnormal']} abnormal / "
            f"{run['n_negative']} negative test images)")


def demo_band_table():
    """README: the demo recipe's accuracy band (demo/accuracy_band.py's raw records), label sets
    against mmdet's single-label targets at one commit, per seed."""
    runs = {(r['targets'], r['seed']): r for r in read_jsonl(DEMO_BAND)}
    seeds = sorted({seed for _, seed in runs})
    rows = []
    for title, targets, key in (
            ('mAP50 (test set), single-label targets', 'single_label', 'map50'),
            ('mAP50 (test set), label sets', 'label_sets', 'map50'),
            ('shared-box score, single-label targets', 'single_label', 'weaker'),
            ('shared-box score, label sets', 'label_sets', 'weaker')):
        values = [runs[targets, seed]['map50'] if key == 'map50'
                  else runs[targets, seed]['shared_boxes']['mean_weaker_score'] for seed in seeds]
        rows.append([title] + [f'{v:.3f}' for v in values] + [f'{statistics.fmean(values):.3f}'])
    return markdown_table([''] + [f'seed {seed}' for seed in seeds] + ['mean'], rows)


# --- NIH cross-validation (raw records) ---------------------------------------------------------

def _with_interval(value, interval):
    if not interval or (interval[0] == 0 and interval[1] == 0):
        return f'{value:.3f}'
    return f'{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]'


def nih_cv_classes_table():
    summary = _load_json(NIH / 'cv_summary.json')
    rows = []
    for name in list(summary['model']):
        model, base = summary['model'][name], summary['baseline'][name]
        rows.append(['**mean**' if name == 'mean' else name, model['n_gt'],
                     _with_interval(model['ap50'], model['ap50_ci95']),
                     _with_interval(base['ap50'], base['ap50_ci95']),
                     _with_interval(model['froc_avgrecall'], model['froc_avgrecall_ci95']),
                     _with_interval(base['froc_avgrecall'], base['froc_avgrecall_ci95']),
                     summary['verdict'][name]])
    return markdown_table(['class', 'GT boxes', 'AP50 model', 'AP50 baseline', 'FROC model',
                           'FROC baseline', 'verdict'], rows, 'lrrrrrl')


def nih_cv_folds_table():
    summary = _load_json(NIH / 'cv_summary.json')
    rows = [[f['fold'], f"{f['n_train']} / {f['n_val']}", f"{f['ap50']:.3f}",
             f"{f['train_seconds'] / 60:.1f} min"] for f in summary['fold_rows']]
    return markdown_table(['fold', 'train / val images', 'mAP50 on its val part', 'training time'],
                          rows, 'rrrr')


def nih_fold_time_phrase():
    folds = _load_json(NIH / 'cv_summary.json')['fold_rows']
    minutes = [f['train_seconds'] / 60 for f in folds]
    return (f"{_span(minutes, 1, '{:.1f}'.format)} min per cross-validation fold of "
            f"{_span([f['n_train'] for f in folds], 0, str)} training images")


def _nih_errors():
    return _load_json(NIH / 'analysis' / 'errors.json')


def nih_false_heart_boxes_phrase():
    confusion = _load_json(NIH / 'analysis' / 'confusion.json')
    background = confusion['labels'].index('background')
    heart = confusion['labels'].index('Cardiomegaly')
    return f"{confusion['matrix'][background][heart]} false heart boxes"


def nih_error_cost_phrases():
    overall = _nih_errors()['overall']['delta_ap50']
    heart = _nih_errors()['per_class']['Cardiomegaly']['delta_ap50']
    return [f"would add {overall['all_false_positives']:.2f} mAP50",
            f"every missed lesion {overall['all_false_negatives']:.2f}",
            f"cost {heart['both']:.2f} and background",
            f"boxes {heart['background']:.2f})"]


def nih_cv_pooled_phrase():
    summary = _load_json(NIH / 'cv_summary.json')
    folds = statistics.fmean(f['ap50'] for f in summary['fold_rows'])
    return (f"the pooled mAP50, {summary['model']['mean']['ap50']:.3f}, is below the folds' mean, "
            f'{folds:.3f}')


def nih_test_table():
    ensemble = _load_json(NIH / 'ensemble' / 'test_ci.metrics.json')
    baseline = _load_json(NIH / 'baseline' / 'test_ci.metrics.json')
    folds = [_load_json(NIH / f'fold{k}' / 'test.metrics.json')['overall']['ap50']
             for k in range(5)]

    def others(metrics):
        values = [c['ap50'] for name, c in metrics['per_class'].items()
                  if name != 'Cardiomegaly' and c['ap50'] is not None]
        return _span(values, 3, '{:.3f}'.format)

    def line(title, metrics):
        cardio = metrics['per_class']['Cardiomegaly']
        return [title, _with_interval(metrics['overall']['ap50'], metrics['overall']['ap50_ci95']),
                _with_interval(cardio['ap50'], cardio['ap50_ci95']), others(metrics)]

    rows = [line('5 fold models fused by WBF', ensemble),
            ['each fold model alone',
             f"{_span(folds, 3, '{:.3f}'.format)} (mean {statistics.fmean(folds):.3f})", '', ''],
            line('baseline (box priors of `train.json`)', baseline)]
    return markdown_table(['', 'mAP50', 'Cardiomegaly AP50', "other classes' AP50"], rows, 'lrrl')


def nih_flip_table():
    rows = []
    for k in range(3):
        ours = _load_json(NIH / f'fold{k}' / 'oof.metrics.json')
        flip = _load_json(NIH / 'flip' / f'fold{k}' / 'oof.metrics.json')
        rows.append([k] + [f"{m['overall']['ap50']:.3f} (Cardiomegaly "
                           f"{m['per_class']['Cardiomegaly']['ap50']:.3f})" for m in (ours, flip)])
    return markdown_table(['fold', 'shifts, zooms, tilts, brightness/contrast, no flip '
                           '(`retinanet_nih8_cpu.py`)', 'flip only (`_flip.py`)'], rows, 'rrr')


TABLES = [
    DerivedTable('gpu-summary', README, gpu_summary_table),
    DerivedTable('gpu-second-run', BENCHMARKS, lambda: _gpu_suite_table('second run')),
    DerivedTable('gpu-third-call', BENCHMARKS,
                 lambda: _gpu_suite_table('second run, third call (fresh machine)')),
    DerivedTable('gpu-first-run', BENCHMARKS, lambda: _gpu_suite_table('first run')),
    DerivedTable('gpu-steady', BENCHMARKS, gpu_steady_table),
    DerivedTable('gpu-breakdown', BENCHMARKS, gpu_breakdown_table),
    DerivedTable('cpu-infer', BENCHMARKS, lambda: cpu_table('cpu-infer')),
    DerivedTable('cpu-infer-tool', BENCHMARKS, cpu_infer_tool_table),
    DerivedTable('cpu-train', BENCHMARKS, lambda: cpu_table('cpu-train')),
    DerivedTable('cpu-data', BENCHMARKS, cpu_data_table),
    DerivedTable('phantom-levers', BENCHMARKS, phantom_levers_table),
    DerivedTable('phantom-emulated', BENCHMARKS, phantom_emulated_table),
    DerivedTable('phantom-current-code', BENCHMARKS, phantom_current_code_table),
    DerivedTable('label-sets', README, label_sets_table),
    DerivedTable('anchor-coverage', ANCHOR_DOC, anchor_coverage_table),
    DerivedTable('phantom-anchors-256', ANCHOR_DOC, lambda: phantom_anchor_table(
        'phantom 256², anchors', 12,
        ['AP50 (FROC)', 'phantom default (anchor scales 2, 2.52, 3.17)',
         'phantom small anchors (1, 1.41, 2, 2.52, 3.17)'], False)),
    DerivedTable('phantom-anchors-1024', ANCHOR_DOC, lambda: phantom_anchor_table(
        'phantom 1024², anchors', 6, ['AP50 (FROC), val epoch 6', 'default anchors (32-406 px)',
                                      'small anchors (16-406 px)'], True)),
    DerivedTable('demo', README, demo_table),
    DerivedTable('demo-band', README, demo_band_table),
    DerivedTable('nih-cv-classes', README, nih_cv_classes_table),
    DerivedTable('nih-cv-folds', README, nih_cv_folds_table),
    DerivedTable('nih-test', README, nih_test_table),
    DerivedTable('nih-flip', README, nih_flip_table),
]

PHRASES = [
    DerivedPhrase('gpu-memory', README, gpu_memory_phrase),
    DerivedPhrase('gpu-epochs', README, gpu_epochs_phrase),
    DerivedPhrase('gpu-e2e-target', README, gpu_e2e_target_phrase),
    DerivedPhrase('gpu-folded-memory', README, gpu_folded_memory_phrase),
    DerivedPhrase('phantom-bf16', README, phantom_bf16_phrase),
    DerivedPhrase('phantom-fp16-emulated', README, phantom_fp16_phrase),
    DerivedPhrase('label-sets-spread', README, label_sets_spread_phrase),
    DerivedPhrase('label-sets-gain', README, label_sets_phrase),
    DerivedPhrase('demo-image-level', README, demo_run_phrase),
    DerivedPhrase('anchor-median', ANCHOR_DOC, anchor_median_phrase),
    DerivedPhrase('anchor-test', ANCHOR_DOC, anchor_test_phrase),
    DerivedPhrase('anchor-readme', README, anchor_readme_phrase),
    DerivedPhrase('phantom-anchors-gain', ANCHOR_DOC, phantom_anchor_mean_phrase),
    DerivedPhrase('phantom-anchors-epoch3', ANCHOR_DOC, phantom_anchor_epoch3_phrase),
    DerivedPhrase('anchor-cpu-cost', ANCHOR_DOC, anchor_cpu_cost_phrase),
    DerivedPhrase('cpu-fast-bf16', README, cpu_fast_bf16_phrase),
    DerivedPhrase('cpu-infer-tool', README, cpu_infer_tool_phrase),
    DerivedPhrase('demo-bf16-inference', README, demo_bf16_phrase),
    DerivedPhrase('nih-cv-pooled', README, nih_cv_pooled_phrase),
    DerivedPhrase('nih-fold-time', README, nih_fold_time_phrase),
    DerivedPhrase('phantom-paired-t', BENCHMARKS, phantom_paired_t_phrase),
    DerivedPhrase('nih-false-heart-boxes', README, nih_false_heart_boxes_phrase),
] + [
    DerivedPhrase(f'nih-error-cost-{k}', README, lambda k=k: nih_error_cost_phrases()[k])
    for k in range(4)
] + [
    DerivedPhrase(f'gpu-docs-{k}', BENCHMARKS, lambda k=k: gpu_docs_phrases()[k])
    for k in range(10)
]


def read_document(path):
    return (REPO / path).read_text(encoding='utf-8')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--check', action='store_true',
                      help='compare the documents with their records; exit 1 on a difference')
    mode.add_argument('--write', action='store_true',
                      help='rewrite each marked table in its document from the records')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.check:
        problems = check_documents(read_document, TABLES, PHRASES)
        for problem in problems:
            print(problem)
        print(f'{len(TABLES)} tables and {len(PHRASES)} phrases checked: '
              + (f'{len(problems)} differ' if problems else 'all equal their records'))
        return 1 if problems else 0
    if args.write:
        for table in TABLES:
            path = REPO / table.document
            text = path.read_text(encoding='utf-8')
            try:
                new = replace_marked_table(text, table.name, table.derive())
            except ValueError as error:
                print(f'{table.document}: {error}; skipped')
                continue
            if new != text:
                path.write_text(new, encoding='utf-8')
                print(f'{table.document}: rewrote {table.name}')
        return 0
    for table in TABLES:
        print(f'<!-- derived: {table.name} --> ({table.document})\n{table.derive()}\n')
    for phrase in PHRASES:
        print(f'{phrase.name} ({phrase.document}): {phrase.derive()}')
    return 0


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
