"""Inference over a whole archive, spread over processes (``torchrun``, see
``tools/dist_infer.sh``), streamed to disk, and resumable after a kill.

* The images of a folder, a file, a glob or a *list file* (a ``.txt``/``.lst``/``.list`` file with
  one image path per line, relative to the list's folder or absolute) are listed in the same order
  by every rank.
* Each rank reads what ``OUT/parts/rank*.jsonl`` already hold (every rank's, from earlier runs),
  then takes every ``world_size``-th of the images not done yet; after the reading a barrier lets
  no rank write before all have read, so all shard the same list.
* A rank streams one JSON line per image to ``OUT/parts/rank{r}.jsonl`` (its record, or why it
  could not be read), flushed at once: a kill loses at most the images in flight. A line cut short
  by a kill is cut off on the next start (or completed, when it is whole JSON without its newline).
* At the end rank 0 merges every part into ``OUT/predictions.json`` (the schema of
  ``tools/infer.py``: every detection, ``abnormal_score``, ``above_threshold`` with thresholds) and
  ``OUT/unreadable.txt``, each image exactly once.
* A ``DataLoader`` with worker processes reads, decodes and resizes images for each rank while the
  model runs; a progress bar per rank, rank 0's counting every rank's images.

Without ``torchrun`` (no ``WORLD_SIZE`` in the environment) it runs as one process, the same way.
Ranks use ``cuda:LOCAL_RANK`` and NCCL where CUDA is available, else the CPU and gloo.
"""
import json
import os
import os.path as osp
from collections import namedtuple

from tbmm.datasets.image_files import find_images, write_unreadable_list
from tbmm.datasets.image_io import IMAGE_SUFFIXES, ImageReadError
from tbmm.errors import MissingExtraError, UserInputError, error_line

__all__ = ['ArchiveSummary', 'list_archive_images', 'merge_parts', 'read_parts',
           'run_archive_inference']

PARTS_DIR = 'parts'
LIST_SUFFIXES = ('.txt', '.lst', '.list')

ArchiveSummary = namedtuple('ArchiveSummary', [
    'n_images', 'n_predicted', 'n_unreadable', 'n_done_before', 'n_not_images',
    'predictions_path', 'unreadable'])
ArchiveSummary.__doc__ = """The merged result (rank 0): images listed, predicted and unreadable
(every image is one of the two), images already done by an earlier run (skipped by this one),
files skipped for their suffix, where predictions.json is, and ``(file_name, reason)`` of the
unreadable images."""


class ArchiveListError(UserInputError):
    """A list file names a path that is no file."""


def _read_list_file(path):
    """``(path, file_name)`` of each line of a list file (blank lines and ``#`` comments left out);
    the name is the line as written."""
    base = osp.dirname(osp.abspath(path))
    images, missing = [], []
    with open(path, encoding='utf-8') as f:
        for line in f:
            name = line.strip()
            if not name or name.startswith('#'):
                continue
            full = name if osp.isabs(name) else osp.join(base, name)
            (images if osp.isfile(full) else missing).append((full, name))
    if missing:
        raise ArchiveListError(f'{path}: {len(missing)} listed path(s) are no file '
                               f'(first: {missing[0][1]})')
    names = [name for _, name in images]
    if len(set(names)) != len(names):
        raise ArchiveListError(f'{path}: some paths are listed twice')
    return sorted(images, key=lambda item: item[1]), 0


def list_archive_images(source, exclude_dirs=()):
    """``(images, n_not_images)``: ``(path, file_name)`` of the images ``source`` names, sorted by
    name (a folder, file or glob as :func:`~tbmm.datasets.image_files.find_images` reads them,
    or a list file), and how many files were left out for their suffix."""
    source = os.fspath(source)
    if (osp.isfile(source) and source.lower().endswith(LIST_SUFFIXES)
            and not source.lower().endswith(IMAGE_SUFFIXES)):
        return _read_list_file(source)
    return find_images(source, exclude_dirs=exclude_dirs)


def _complete_tail(path):
    """Make a part file end with a whole line: a last line cut short by a kill is removed, or
    given its newline when it is whole JSON."""
    if not osp.isfile(path):
        return
    with open(path, 'rb+') as f:
        data = f.read()
        if not data or data.endswith(b'\n'):
            return
        start = data.rfind(b'\n') + 1
        try:
            json.loads(data[start:])
            f.write(b'\n')
        except ValueError:
            f.truncate(start)


def _parse_line(line):
    try:
        entry = json.loads(line)
    except ValueError:  # a line being written or cut short by a kill
        return None
    return entry if isinstance(entry, dict) and 'file_name' in entry else None


def read_parts(out_dir):
    """``{file_name: entry}`` of every whole line in ``out_dir/parts/*.jsonl`` (the first entry of
    a name wins; a cut-off last line is ignored)."""
    parts_dir = osp.join(os.fspath(out_dir), PARTS_DIR)
    entries = {}
    if not osp.isdir(parts_dir):
        return entries
    for name in sorted(os.listdir(parts_dir)):
        if not name.endswith('.jsonl'):
            continue
        with open(osp.join(parts_dir, name), encoding='utf-8') as f:
            for line in f:
                entry = _parse_line(line) if line.endswith('\n') else None
                if entry is not None:
                    entries.setdefault(entry['file_name'], entry)
    return entries


def merge_parts(out_dir, images, n_done_before=0, n_not_images=0):
    """Write ``predictions.json`` (records sorted by file name) and ``unreadable.txt`` from the
    parts, for the images ``images`` (``(path, file_name)``); return an :class:`ArchiveSummary`.

    Raises ``RuntimeError`` when an image has no entry (a rank ended without doing it).
    """
    from tbmm.datasets.annotations import write_annotations

    out_dir = os.fspath(out_dir)
    entries = read_parts(out_dir)
    missing = [name for _, name in images if name not in entries]
    if missing:
        raise RuntimeError(f'{len(missing)} image(s) have no result in {out_dir}/{PARTS_DIR} '
                           f'(first: {missing[0]}); run the same command again to finish them')
    chosen = [entries[name] for _, name in images]
    records = [e['record'] for e in chosen if 'record' in e]
    unreadable = sorted((e['file_name'], e['reason']) for e in chosen if 'record' not in e)
    predictions_path = osp.join(out_dir, 'predictions.json')
    write_annotations(predictions_path, sorted(records, key=lambda r: r['file_name']))
    write_unreadable_list(out_dir, unreadable)
    return ArchiveSummary(len(images), len(records), len(unreadable), n_done_before,
                          n_not_images, predictions_path, unreadable)


class _ImageFiles:
    """Map-style data set of ``(path, file_name)``: each item is ``(file_name, packed, reason)``,
    the pipeline's output or why the file cannot be read (then ``packed`` is None)."""

    def __init__(self, images, pipeline):
        self.images = images
        self.pipeline = pipeline

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        path, file_name = self.images[index]
        try:
            packed = self.pipeline(dict(img_path=path, img_id=osp.basename(path)))
        except (ImageReadError, MissingExtraError) as e:
            return file_name, None, e.reason if isinstance(e, ImageReadError) else error_line(e)
        if packed is None:
            return file_name, None, 'dropped by the pipeline'
        return file_name, packed, None


def _as_list(batch):
    return batch


class _TotalProgress:
    """Rank 0's bar: lines appended to every part file since the start, read incrementally."""

    def __init__(self, parts_dir, total, enabled):
        from tqdm import tqdm
        self.parts_dir = parts_dir
        self.offsets = {}
        self.bar = tqdm(total=total, unit='img', desc='all ranks', disable=not enabled)
        for name in self._files():
            self.offsets[name] = osp.getsize(osp.join(parts_dir, name))

    def _files(self):
        return [n for n in os.listdir(self.parts_dir) if n.endswith('.jsonl')]

    def poll(self):
        new_lines = 0
        for name in self._files():
            path = osp.join(self.parts_dir, name)
            with open(path, 'rb') as f:
                f.seek(self.offsets.get(name, 0))
                data = f.read()
            last = data.rfind(b'\n') + 1  # count whole lines only
            new_lines += data[:last].count(b'\n')
            self.offsets[name] = self.offsets.get(name, 0) + last
        self.bar.update(new_lines)

    def close(self):
        self.poll()
        self.bar.close()


class _RankProgress:
    def __init__(self, rank, total, enabled):
        from tqdm import tqdm
        self.bar = tqdm(total=total, unit='img', desc=f'rank {rank}', position=rank,
                        disable=not enabled)

    def poll(self):
        self.bar.update(1)

    def close(self):
        self.bar.close()


def _distributed_setup():
    """``(rank, world_size, local_rank, started)`` from torchrun's environment, with the process
    group started when there are several ranks (NCCL with CUDA, else gloo)."""
    import torch
    import torch.distributed as dist
    world_size = int(os.environ.get('WORLD_SIZE', 1))
    rank, local_rank = int(os.environ.get('RANK', 0)), int(os.environ.get('LOCAL_RANK', 0))
    started = False
    if world_size > 1 and not dist.is_initialized():
        backend = 'nccl' if torch.cuda.is_available() else 'gloo'
        if backend == 'nccl':
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
        started = True
    return rank, world_size, local_rank, started


def _barrier(world_size):
    if world_size > 1:
        import torch.distributed as dist
        dist.barrier()


def run_archive_inference(config, checkpoint, source, out_dir, batch_size=1, num_workers=2,
                          device=None, cfg_options=None, thresholds=None, amp=None,
                          progress=True):
    """Predict every image of ``source`` on this rank's share (see the module docstring); rank 0
    returns the :class:`ArchiveSummary` of the merged result, the other ranks None.

    ``device``: default ``cuda:LOCAL_RANK`` where CUDA is available, else ``cpu``. ``thresholds``:
    per-class thresholds (a ``thresholds.json`` path or ``{class: threshold}``) for the
    ``above_threshold`` flags, as in ``tools/infer.py``. ``amp``: as in
    :func:`tbmm.apis.folder_inference.run_inference`.

    Raises:
        FileNotFoundError: ``source`` names no image file.
    """
    import torch
    from mmengine.dataset import pseudo_collate
    from torch.utils.data import DataLoader

    from tbmm.apis.inference import build_inference_pipeline, init_model, sample_to_record
    from tbmm.apis.precision import asks_for_inference_amp, inference_autocast_dtype
    from tbmm.deploy.records import add_image_fields

    out_dir = os.fspath(out_dir)
    parts_dir = osp.join(out_dir, PARTS_DIR)
    images, n_not_images = list_archive_images(source, exclude_dirs=[out_dir])
    if not images:
        raise FileNotFoundError(f'{source}: no PNG, JPEG, BMP, TIFF or DICOM files found')
    rank, world_size, local_rank, started = _distributed_setup()
    try:
        if device is None:
            device = f'cuda:{local_rank}' if torch.cuda.is_available() else 'cpu'
        os.makedirs(parts_dir, exist_ok=True)
        part_path = osp.join(parts_dir, f'rank{rank}.jsonl')
        _complete_tail(part_path)
        _barrier(world_size)  # every rank's tail made whole before anyone reads
        done = read_parts(out_dir)
        _barrier(world_size)  # everyone has read before anyone writes: all shard the same list
        pending = [item for item in images if item[1] not in done]
        mine = pending[rank::world_size]

        model = init_model(config, checkpoint, device=device, cfg_options=cfg_options)
        classes = tuple(model.dataset_meta['classes'])
        if thresholds is not None and not isinstance(thresholds, dict):
            from tbmm.evaluation.functional.thresholds import load_thresholds
            thresholds = load_thresholds(thresholds, classes=classes)
        wanted = asks_for_inference_amp(model.cfg) if amp is None else amp
        autocast_dtype = inference_autocast_dtype(device)[0] if wanted else None
        pipeline = build_inference_pipeline(model.cfg)
        loader = DataLoader(_ImageFiles(mine, pipeline), batch_size=batch_size,
                            num_workers=num_workers, collate_fn=_as_list,
                            persistent_workers=False)
        bar = (_TotalProgress(parts_dir, len(pending), progress) if rank == 0
               else _RankProgress(rank, len(mine), progress))
        with open(part_path, 'a', encoding='utf-8') as part:
            for batch in loader:
                readable = [(name, packed) for name, packed, _ in batch if packed is not None]
                samples = []
                if readable:
                    with torch.no_grad(), torch.autocast(torch.device(device).type,
                                                         dtype=autocast_dtype,
                                                         enabled=autocast_dtype is not None):
                        samples = model.test_step(pseudo_collate([p for _, p in readable]))
                by_name = {name: sample for (name, _), sample in zip(readable, samples)}
                for name, packed, reason in batch:
                    if packed is None:
                        entry = dict(file_name=name, reason=reason)
                    else:
                        record = sample_to_record(name, by_name[name], classes)
                        add_image_fields(record, thresholds)
                        entry = dict(file_name=name, record=record)
                    part.write(json.dumps(entry) + '\n')
                    part.flush()  # a kill loses only the images in flight
                    bar.poll()
        _barrier(world_size)
        bar.close()
        summary = None
        if rank == 0:
            summary = merge_parts(out_dir, images, n_done_before=len(images) - len(pending),
                                  n_not_images=n_not_images)
        # A rank that closes its connections while another still works can make gloo abort
        # that one: leave together.
        _barrier(world_size)
        return summary
    finally:
        if started:
            import torch.distributed as dist
            dist.destroy_process_group()
