"""Throughput of a config (and of stock MMDetection): img/s, ms/iter, peak memory.

Examples:
    # model step on synthetic 1024x1024 batches, compared with stock MMDetection in this process
    python tools/analysis_tools/benchmark.py \\
        configs/tb_retinanet/fast/retinanet_r101_fpn_10e_chestxdet_fast_bf16.py \\
        --task train --compare-stock --stock-amp fp16 --device cuda
    # inference on the CPU, bf16 autocast
    python tools/analysis_tools/benchmark.py \\
        configs/tb_retinanet/retinanet_r101_fpn_10e_chestxdet.py \\
        --task infer --device cpu --amp bf16 --batch-size 1 --iters 5
    # end to end from PNG files, and the data loader alone
    DATA=data/chestxdet/annotation/train.json,data/chestxdet/train_data
    python tools/analysis_tools/benchmark.py CONFIG --task train --data $DATA
    python tools/analysis_tools/benchmark.py CONFIG --task data --data $DATA
    # where a training step's time goes (and torch.profiler's table)
    python tools/analysis_tools/benchmark.py CONFIG --breakdown --batch-size 16 \\
        --profile step_profile.txt
    # the ONNX runtime (python -m tbmm.deploy) against stock MMDetection, R-101 at 1024²,
    # one thread each
    python tools/analysis_tools/benchmark.py --task infer --backend onnxruntime --compare-stock \\
        --threads 1 --iters 5 --warmup 1 --json work_dirs/onnx_speed.jsonl
    # the GPU suite (tools/analysis_tools/benchmark_suites.py): every lever and mode against
    # stock, one process
    python tools/analysis_tools/benchmark.py --suite gpu --data $DATA \\
        --json work_dirs/gpu.jsonl --markdown gpu.md
"""
import argparse
import json
import os
import runpy
import sys

#: The suite lists name this checkout's configs, so they live beside the tool, not in tbmm.
SUITES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'benchmark_suites.py')


def load_suites():
    """``SUITES`` of tools/analysis_tools/benchmark_suites.py (found beside this file, wherever
    it runs from)."""
    return runpy.run_path(SUITES_FILE)['SUITES']


def parse_args(argv=None):
    from tbmm.benchmark import AMP_MODES, TASKS
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', nargs='?', help='config to measure (not with --suite)')
    parser.add_argument('--suite', choices=sorted(load_suites()), default=None,
                        help='run a list of runs (tools/analysis_tools/benchmark_suites.py) '
                             'instead of one config; disk runs read --data, results go to '
                             '--json (required)')
    parser.add_argument('--breakdown', action='store_true',
                        help='time the parts of a step on a synthetic batch: --task train (whole '
                             'step, preprocessor, network without loss, targets and loss) or '
                             '--task infer (whole step, preprocessor, network, post-processing)')
    parser.add_argument('--profile', default=None, metavar='FILE',
                        help="with --breakdown: write torch.profiler's tables of 3 steps to FILE "
                             'and a Chrome trace of one step to FILE.trace.json.gz')
    parser.add_argument('--markdown', default=None,
                        help='with --suite: also write the table of the --json records here')
    parser.add_argument('--task', choices=TASKS, default='train',
                        help='train: model step (synthetic) or end to end (--data); infer: test '
                             'step; data: the training data loader alone (needs --data)')
    parser.add_argument('--device', default=None, help='cuda or cpu (default: cuda if available)')
    parser.add_argument('--batch-size', type=int, default=None, help="default: the config's")
    parser.add_argument('--amp', choices=AMP_MODES, default=None,
                        help="autocast (default: as the config trains, or for --task infer as "
                             "tools/test.py and tools/infer.py run it); fp16 needs CUDA")
    parser.add_argument('--iters', type=int, default=10, help='timed iterations (median reported)')
    parser.add_argument('--warmup', type=int, default=3, help='iterations run before timing')
    parser.add_argument('--data', default='synthetic', help="'synthetic' or ANN.json,IMG_DIR")
    parser.add_argument('--image-size', type=int, default=1024,
                        help='square input size (synthetic batches and the pipelines\' Resize)')
    parser.add_argument('--num-workers', type=int, default=None, help="default: the config's")
    parser.add_argument('--compare-stock', action='store_true',
                        help='also run stock MMDetection (retinanet_r101_fpn_1x_coco.py with this '
                             "config's classes, input size and data) and print the img/s ratio")
    parser.add_argument('--stock-amp', choices=AMP_MODES, default=None,
                        help='autocast for stock (default: the same as the config)')
    parser.add_argument('--interleave', choices=('auto', 'yes', 'no'), default='auto',
                        help='with --compare-stock, alternate ours and stock iterations so other '
                             'load hits both alike (auto: on the CPU; on a GPU one after the '
                             'other, which keeps each peak memory its own)')
    parser.add_argument('--json', default=None, help='append the results to this JSON-lines file')
    parser.add_argument('--label', default=None, help='a name for this run in the JSON output')
    parser.add_argument('--cfg-options', nargs='+', default=None, metavar='KEY=VALUE',
                        help='override config settings, e.g. model.channels_last=False')
    parser.add_argument('--backend', choices=('pytorch', 'onnxruntime'), default='pytorch',
                        help="onnxruntime (with --task infer --compare-stock): stock MMDetection's "
                        "R-101 RetinaNet (the main configs' network) exported to ONNX and run by "
                        "tbmm.deploy against the same model in MMDetection, turn about, on one "
                        "synthetic radiograph of --image-size; a config only gives its classes")
    parser.add_argument('--threads', type=int, default=None,
                        help="--backend onnxruntime: torch's and onnxruntime's intra-op threads")
    parser.add_argument('--providers', nargs='+', default=['CPUExecutionProvider'],
                        help='--backend onnxruntime: onnxruntime execution providers')
    parser.add_argument('--precision', choices=('float32', 'int8'), default='float32',
                        help='--backend onnxruntime: int8 also times an int8 copy of the ONNX '
                        'model (tbmm.deploy.quantize); stock stays float32, and both ratios '
                        'are printed')
    parser.add_argument('--calibration-count', type=int, default=2,
                        help='--precision int8: synthetic radiographs calibrating the int8 model')
    args = parser.parse_args(argv)
    if args.backend == 'onnxruntime':
        if args.task != 'infer' or not args.compare_stock or args.suite or args.breakdown:
            parser.error('--backend onnxruntime times inference against stock: give --task infer '
                         '--compare-stock (no --suite, no --breakdown)')
        if args.iters < 1 or args.warmup < 0 or args.image_size < 64:
            parser.error('--iters must be >= 1, --warmup >= 0 and --image-size >= 64')
        if args.calibration_count < 1:
            parser.error('--calibration-count must be >= 1')
        return args
    if args.precision != 'float32':
        parser.error('--precision int8 times an ONNX model: give --backend onnxruntime (for '
                     'PyTorch precision see --amp)')
    if args.suite is None and args.config is None:
        parser.error('give a config, or --suite')
    if args.profile and not args.breakdown:
        parser.error('--profile writes the profiler table of --breakdown: give both')
    if args.suite is not None:
        if args.config is not None:
            parser.error('--suite runs its own configs: give no config with it')
        if args.json is None:
            parser.error('--suite needs --json FILE for its records')
    return args


def run_suite_cli(args, device):
    from tbmm.benchmark import failed_runs, markdown_table, run_suite, with_overrides
    runs = load_suites()[args.suite]
    overrides = {name: value for name, value in
                 (('batch_size', args.batch_size), ('num_workers', args.num_workers))
                 if value is not None}
    if overrides:  # e.g. a small CPU check of the suite's plumbing
        runs = with_overrides(runs, **overrides)
    data = None if args.data == 'synthetic' else args.data
    records = run_suite(runs, device, args.json, data=data, image_size=args.image_size,
                        iters=args.iters, warmup=args.warmup, log=lambda s: print(s, flush=True))
    if args.markdown:
        with open(args.markdown, 'w') as f:
            f.write(markdown_table(args.json))
    failed = failed_runs(records)
    if failed:
        print(f'{len(failed)} of {len(records)} run(s) failed: '
              + ', '.join(r['label'] for r in failed), file=sys.stderr)
    return records


def run_onnx_cli(args):
    from tbmm.apis.onnx_speed import compare_onnx_with_stock
    from tbmm.deploy.runtime import check_providers

    check_providers(args.providers)
    classes = None
    if args.config:
        from tbmm.apis.config import config_classes, load_config
        classes = config_classes(load_config(args.config, _parse_cfg_options(args.cfg_options)))
    result = compare_onnx_with_stock(size=args.image_size, iters=args.iters, warmup=args.warmup,
                                     threads=args.threads, classes=classes,
                                     providers=args.providers, precision=args.precision,
                                     calibration_count=args.calibration_count)
    detections = result['detections']
    print(f"{result['size']}² image, {result['precision']}, {result['iters']} timed run(s) "
          f"each, threads {result['threads'] or 'default'} ({', '.join(result['providers'])})")
    print(f"mmdet-stock:  {result['stock_median_s']:.3f} s/img (median, float32)")
    print(f"onnxruntime:  {result['onnx_median_s']:.3f} s/img (median, float32)")
    int8 = result.get('int8')
    if int8:
        print(f"onnxruntime:  {int8['onnx_median_s']:.3f} s/img (median, int8; calibrated on "
              f"{int8['quantization']['calibration_images']} image(s) in "
              f"{int8['quantize_s']:.0f} s)")
    print(f"ratio (stock time / onnxruntime time): {result['ratio']:.2f}x (same precision, "
          f"float32)")
    if int8:
        print(f"ratio (stock float32 time / onnxruntime int8 time), across precisions: "
              f"{int8['ratio']:.2f}x; int8 vs onnxruntime float32: "
              f"{int8['ratio_vs_onnx_float32']:.2f}x")
    print(f"detections:   stock {detections['stock']}, onnxruntime {detections['onnx']}, "
          f"largest score difference {detections['max_score_diff']}")
    if int8:
        print(f"              int8 {int8['detections']['onnx']}, largest score difference "
              f"from stock {int8['detections']['max_score_diff_vs_stock']}")
    return dict(result, label=args.label, backend='onnxruntime', config=args.config)


def exit_status(result):
    """``run_cli``'s code for a user mistake; 1 when a run failed (a suite run, or the stock side
    of --compare-stock, whose ratio then is missing); else 0."""
    if isinstance(result, int):
        return result
    from tbmm.benchmark import failed_runs
    records = result if isinstance(result, list) else [result] if isinstance(result, dict) else []
    return 1 if failed_runs(records) else 0


def main(argv=None):
    args = parse_args(argv)
    if args.backend == 'onnxruntime':
        return _write_json(args, run_onnx_cli(args))
    import torch

    from tbmm.benchmark import (
        BenchmarkSettings,
        BenchmarkSettingsError,
        format_result,
        run_benchmark,
        run_comparison,
    )
    cfg_options = _parse_cfg_options(args.cfg_options)
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise BenchmarkSettingsError(f'--device {device}, but this torch ({torch.__version__}) '
                                     f'sees no CUDA device; use --device cpu')
    settings = BenchmarkSettings(
        task=args.task, device=device, data=args.data, batch_size=args.batch_size, amp=args.amp,
        image_size=args.image_size, iters=args.iters, warmup=args.warmup,
        num_workers=args.num_workers)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}'
          + (f' ({torch.cuda.get_device_name(device)})' if device.startswith('cuda') else ''),
          flush=True)
    if args.suite is not None:
        return run_suite_cli(args, device)
    if args.breakdown:
        from tbmm.benchmark import step_breakdown
        parts = step_breakdown(args.config, settings, cfg_options, profile_path=args.profile)
        for name, ms in parts.items():
            print(f'{name}: {ms:.1f} ms (median of {args.iters})')
        if args.profile:
            print(f'profiler table: {args.profile}')
        return dict(config=args.config, breakdown_ms=parts)
    record = dict(label=args.label, config=args.config, cfg_options=args.cfg_options)
    if args.compare_stock:
        interleave = {'auto': None, 'yes': True, 'no': False}[args.interleave]
        ours, stock, ratio = run_comparison(args.config, settings, cfg_options, args.stock_amp,
                                            interleave)
        print(format_result(ours))
        if ratio is None:
            print(f'mmdet-stock: failed: {stock}')
            print(f'the stock run failed, so there is no ratio (exit status 1): {stock}',
                  file=sys.stderr)
            record.update(ours=ours.as_dict(), stock_error=stock, ratio=None)
        else:
            print(format_result(stock))
            print(f'ratio (img/s vs stock): {ratio:.2f}x')
            record.update(ours=ours.as_dict(), stock=stock.as_dict(), ratio=ratio)
    else:
        ours = run_benchmark(args.config, settings, cfg_options)
        print(format_result(ours))
        record.update(ours=ours.as_dict())
    return _write_json(args, record)


def _write_json(args, record):
    """Append ``record`` to ``--json`` (with the command that made it); return it."""
    if args.json:
        from tbmm.utils import ensure_parent_dir
        ensure_parent_dir(args.json)
        with open(args.json, 'a') as f:
            f.write(json.dumps(dict(record, command=' '.join(['python', *sys.argv]))) + '\n')
    return record


def _parse_cfg_options(options):
    if not options:
        return None
    from tbmm.benchmark import BenchmarkSettingsError
    from tbmm.cli import CfgOptionsAction
    namespace = argparse.Namespace()
    action = CfgOptionsAction(option_strings=['--cfg-options'], dest='cfg_options')
    try:
        action(None, namespace, options)
    except argparse.ArgumentError as e:
        raise BenchmarkSettingsError(str(e)) from None
    return namespace.cfg_options


if __name__ == '__main__':
    from tbmm.utils import run_cli
    # main returns its records; run_cli an exit code for a user mistake
    sys.exit(exit_status(run_cli(main)))
