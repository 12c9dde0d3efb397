"""Archive inference (tools/dist_infer.sh, tbmm.apis.archive_inference): two gloo processes give
what one-process tools/infer.py gives; a rank killed with SIGKILL, then the same command again,
ends with every image exactly once; a line cut short by a kill is done again; list files."""
import json
import os
import signal
import subprocess
import sys
import time

import cv2
import pytest

from tests.deploy.model_factory import build_random_detector, save_checkpoint
from tests.engine.tool_runs import REPO, TINY_CONFIG, free_port, run_tool, tail, tool_env

# At most 8 boxes per image: long enough lists to compare, short lines.
OPTIONS = ['--cfg-options', 'model.test_cfg.max_per_img=8']


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """The tiny phantom detector with seeded random weights (nothing trained)."""
    cfg, model = build_random_detector(REPO / TINY_CONFIG, seed=0)
    return save_checkpoint(model, cfg.metainfo['classes'],
                           tmp_path_factory.mktemp('archive_model') / 'model.pth')


def phantom_folder(root, n_images, seed=4):
    from tbmm.datasets.phantom import make_phantom_dataset
    make_phantom_dataset(str(root), num_train=1, num_test=n_images, image_size=128, seed=seed)
    return root / 'test_data'


def dist_infer_command(checkpoint, source, out_dir, procs, *extra):
    return ['bash', 'tools/dist_infer.sh', TINY_CONFIG, str(checkpoint), str(source), str(procs),
            '--out-dir', str(out_dir), '--no-progress', *extra, *OPTIONS]


def part_names(out_dir):
    """File names of every whole line of every part file, repeats included."""
    names = []
    for part in sorted((out_dir / 'parts').glob('rank*.jsonl')):
        names += [json.loads(line)['file_name'] for line in part.read_text().splitlines()]
    return names


def test_two_gloo_processes_give_what_one_process_infer_gives(checkpoint, tmp_path):
    folder = phantom_folder(tmp_path / 'phantom', 9)
    (folder / 'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n not really')
    port = str(free_port())
    proc = subprocess.run(dist_infer_command(checkpoint, folder, tmp_path / 'dist', 2,
                                             '--workers', '1'),
                          cwd=REPO, env=tool_env(PYTHON=sys.executable, PORT=port),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, tail(proc.stdout + proc.stderr)
    assert '10 image(s): 9 predicted, 1 unreadable; 0 done by an earlier run' in proc.stdout

    single = run_tool('infer', TINY_CONFIG, checkpoint, folder, '--out-dir', tmp_path / 'one',
                      '--no-progress', *OPTIONS)
    assert single.returncode == 0, tail(single.stdout + single.stderr)
    merged = json.loads((tmp_path / 'dist' / 'predictions.json').read_text())
    reference = json.loads((tmp_path / 'one' / 'predictions.json').read_text())
    assert sum(len(r['boxes']) for r in reference) > 0, 'compare real detections'
    assert merged == reference
    assert ((tmp_path / 'dist' / 'unreadable.txt').read_text()
            == (tmp_path / 'one' / 'unreadable.txt').read_text())
    # Both ranks worked, and every image went to exactly one of them.
    names = part_names(tmp_path / 'dist')
    assert sorted(names) == sorted({r['file_name'] for r in reference} | {'broken.png'})
    assert all((tmp_path / 'dist' / 'parts' / f'rank{r}.jsonl').stat().st_size for r in (0, 1))


def _rank_pid(port, rank):
    """The pid of the archive_infer.py process of ``rank`` started with MASTER_PORT ``port``."""
    wanted = {f'RANK={rank}'.encode(), f'MASTER_PORT={port}'.encode()}
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/environ', 'rb') as f:
                environ = set(f.read().split(b'\0'))
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                cmdline = f.read()
        except OSError:
            continue
        if wanted <= environ and b'archive_infer.py' in cmdline:
            return int(pid)
    return None


def test_rank_killed_then_rerun_does_every_image_exactly_once(checkpoint, tmp_path):
    n_images = 40
    folder = phantom_folder(tmp_path / 'phantom', n_images)
    out_dir, port = tmp_path / 'dist', str(free_port())
    command = dist_infer_command(checkpoint, folder, out_dir, 2, '--workers', '0')
    env = tool_env(PYTHON=sys.executable, PORT=port)
    rank1_part = out_dir / 'parts' / 'rank1.jsonl'
    log_path = tmp_path / 'killed.log'
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while not (rank1_part.is_file() and rank1_part.read_bytes().count(b'\n') >= 2):
            assert proc.poll() is None, tail(log_path.read_text())
            assert time.monotonic() < deadline, tail(log_path.read_text())
            time.sleep(0.01)
        pid = _rank_pid(port, 1)
        assert pid is not None, 'rank 1 ended before it could be killed'
        os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    before = part_names(out_dir)
    assert len(before) < n_images, 'the kill must land before the run ends'
    assert not (out_dir / 'predictions.json').exists()

    rerun = subprocess.run(command, cwd=REPO, env=tool_env(PYTHON=sys.executable,
                                                           PORT=str(free_port())),
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, tail(rerun.stdout + rerun.stderr)
    assert f'{len(set(before))} done by an earlier run and skipped now' in rerun.stdout
    names = part_names(out_dir)
    expected = sorted(p.name for p in folder.glob('*.png'))
    assert sorted(names) == expected  # every image, each exactly once, over both runs
    records = json.loads((out_dir / 'predictions.json').read_text())
    assert [r['file_name'] for r in records] == expected


def test_line_cut_by_a_kill_is_done_again(checkpoint, tmp_path, capsys):
    """One process: a last line cut short is dropped and its image done again; a whole last line
    without its newline is kept. The input is a list file with relative paths."""
    from tbmm.apis.archive_inference import run_archive_inference

    folder = phantom_folder(tmp_path / 'phantom', 4)
    names = sorted(p.name for p in folder.glob('*.png'))
    listing = tmp_path / 'images.txt'
    listing.write_text('# the archive\n' + ''.join(f'phantom/test_data/{n}\n' for n in names))
    listed = [f'phantom/test_data/{n}' for n in names]
    options = {'model.test_cfg.max_per_img': 8}
    out_dir = tmp_path / 'out'
    first = run_archive_inference(str(REPO / TINY_CONFIG), str(checkpoint), listing, out_dir,
                                  num_workers=0, cfg_options=options, progress=False)
    assert (first.n_images, first.n_predicted, first.n_done_before) == (4, 4, 0)
    reference = json.loads((out_dir / 'predictions.json').read_text())
    assert [r['file_name'] for r in reference] == listed

    part = out_dir / 'parts' / 'rank0.jsonl'
    lines = part.read_text().splitlines(keepends=True)

    def rerun():
        (out_dir / 'predictions.json').unlink()
        return run_archive_inference(str(REPO / TINY_CONFIG), str(checkpoint), listing, out_dir,
                                     num_workers=0, cfg_options=options, progress=False)

    # Killed in the middle of writing line 4: image 4 is done again.
    part.write_text(''.join(lines[:3]) + lines[3][:len(lines[3]) // 2])
    again = rerun()
    assert (again.n_predicted, again.n_done_before) == (4, 3)
    assert part.read_text() == ''.join(lines)
    assert json.loads((out_dir / 'predictions.json').read_text()) == reference
    # Killed after line 4's JSON but before its newline: it counts as done.
    part.write_text(''.join(lines[:3]) + lines[3].rstrip('\n'))
    again = rerun()
    assert (again.n_predicted, again.n_done_before) == (4, 4)
    assert part.read_text() == ''.join(lines)
    assert json.loads((out_dir / 'predictions.json').read_text()) == reference


def test_list_file_with_a_missing_path_is_one_error_line(checkpoint, tmp_path):
    folder = phantom_folder(tmp_path / 'phantom', 1)
    (image,) = folder.glob('*.png')
    listing = tmp_path / 'images.lst'
    listing.write_text(f'{image}\nnot/there.png\n')
    cv2.imwrite(str(tmp_path / 'unused.png'), cv2.imread(str(image)))
    proc = run_tool('archive_infer', TINY_CONFIG, checkpoint, listing, '--out-dir',
                    tmp_path / 'out', '--no-progress')
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f'error: {listing}: 1 listed path(s) are no file (first: not/there.png)']
