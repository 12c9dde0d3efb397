#!/usr/bin/env python
"""Images per second of archive inference (tools/dist_infer.sh) with 1 and 2 processes.

    python .dev_scripts/archive_infer_speed.py CONFIG CHECKPOINT [--images 48] [--size 1024]
        [--workers 1] [--procs 1 2]

Makes a folder of phantom radiographs (PNG, SIZE px), runs tools/dist_infer.sh on it once per
process count (each process with OMP_NUM_THREADS=1 and WORKERS DataLoader workers) and prints, per
run, the wall time of the whole command and the steady rate: images finished per second between
the first and the last line written to the part files (start-up and model loading left out).
"""
import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def count_lines(parts_dir):
    return sum(p.read_bytes().count(b'\n') for p in parts_dir.glob('rank*.jsonl'))


def run(config, checkpoint, folder, out_dir, procs, workers, port):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHON=sys.executable, PORT=str(port))
    command = ['bash', 'tools/dist_infer.sh', config, checkpoint, str(folder), str(procs),
               '--out-dir', str(out_dir), '--workers', str(workers), '--no-progress']
    start = time.monotonic()
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    parts = out_dir / 'parts'
    first = last = None
    seen = 0
    while proc.poll() is None:
        n = count_lines(parts) if parts.is_dir() else 0
        now = time.monotonic()
        if n and first is None:
            first, first_n = now, n
        if n > seen:
            seen, last = n, now
        time.sleep(0.02)
    output = proc.stdout.read()
    wall = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f'run failed:\n{output[-3000:]}')
    n = count_lines(parts)
    rate = (n - first_n) / (last - first) if last and last > first else float('nan')
    summary = [line for line in output.splitlines() if 'image(s):' in line]
    return wall, rate, n, summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--images', type=int, default=48)
    parser.add_argument('--size', type=int, default=1024)
    parser.add_argument('--workers', type=int, default=1)
    parser.add_argument('--procs', type=int, nargs='+', default=[1, 2])
    args = parser.parse_args(argv)
    from tbmm.datasets.phantom import make_phantom_dataset

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_phantom_dataset(str(root / 'phantom'), num_train=1, num_test=args.images,
                             image_size=args.size, seed=0)
        folder = root / 'phantom' / 'test_data'
        print(f'date: {time.strftime("%Y-%m-%d %H:%M:%S %Z")}')
        print(f'machine: {platform.processor() or platform.machine()}, nproc={os.cpu_count()}, '
              f'loadavg before: {os.getloadavg()}')
        print(f'config: {args.config}; checkpoint: {args.checkpoint}')
        print(f'{args.images} phantom PNGs of {args.size} px; {args.workers} DataLoader '
              f'worker(s) per process; OMP_NUM_THREADS=1')
        for i, procs in enumerate(args.procs):
            wall, rate, n, summary = run(args.config, args.checkpoint, folder,
                                         root / f'out{procs}', procs, args.workers, 29650 + i)
            print(f'procs={procs}: {n} images, wall {wall:.1f} s (start-up included), '
                  f'steady {rate:.2f} images/s; loadavg after: {os.getloadavg()}')
            for line in summary:
                print(f'  {line}')

    return 0


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
