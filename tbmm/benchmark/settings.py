"""What a benchmark measures (:class:`BenchmarkSettings`) and what it reports
(:class:`BenchmarkResult`). Light: no torch or mmdet import."""
import os.path as osp
from dataclasses import asdict, dataclass, field
from typing import List, Optional

from tbmm.errors import UserInputError

__all__ = ['AMP_MODES', 'TASKS', 'BenchmarkSettingsError', 'BenchmarkSettings',
           'BenchmarkResult']

AMP_MODES = ('none', 'fp16', 'bf16')
TASKS = ('train', 'infer', 'data')


class BenchmarkSettingsError(UserInputError):
    """Settings that cannot be measured (a user mistake: the CLI prints one line)."""


@dataclass
class BenchmarkSettings:
    """What to measure; the same settings apply to the config and, when compared, to stock."""
    task: str = 'train'
    device: str = 'cpu'
    data: str = 'synthetic'  # or 'ANN.json,IMG_DIR'
    batch_size: Optional[int] = None  # None: the config's
    amp: Optional[str] = None  # None: as the config's optimizer wrapper trains
    image_size: int = 1024
    iters: int = 10
    warmup: int = 3
    num_workers: Optional[int] = None  # None: the config's
    seed: int = 0

    def __post_init__(self):
        if self.task not in TASKS:
            raise BenchmarkSettingsError(f'task must be one of {TASKS}, got {self.task!r}')
        if self.amp is not None and self.amp not in AMP_MODES:
            raise BenchmarkSettingsError(f'amp must be one of {AMP_MODES}, got {self.amp!r}')
        if self.iters < 1 or self.warmup < 0:
            raise BenchmarkSettingsError(
                f'need iters >= 1 and warmup >= 0, got {self.iters} / {self.warmup}')
        if self.task == 'data' and self.data == 'synthetic':
            raise BenchmarkSettingsError(
                'task data times the data loader: give --data ANN.json,IMG_DIR')
        if self.data != 'synthetic':
            self.data_files()  # checks the format and that both exist

    def data_files(self):
        """``(annotation file, image folder)`` of ``data``, absolute."""
        parts = self.data.split(',')
        if len(parts) != 2:
            raise BenchmarkSettingsError(
                f"data must be 'synthetic' or 'ANN.json,IMG_DIR', got {self.data!r}")
        ann_file, img_dir = (osp.abspath(p) for p in parts)
        if not osp.isfile(ann_file):
            raise FileNotFoundError(f'annotation file not found: {ann_file}')
        if not osp.isdir(img_dir):
            raise FileNotFoundError(f'image folder not found: {img_dir}')
        return ann_file, img_dir


@dataclass
class BenchmarkResult:
    """One measurement: what ran (``name``, task, data, device, precision, batch, input size) and
    its rates; ``ms_per_iter_all`` holds every timed iteration."""
    name: str
    task: str
    data: str
    device: str
    amp: str
    batch_size: int
    image_size: int
    iters: int
    warmup: int
    ms_per_iter: float  # median (synthetic) or mean (data loader) over the timed iterations
    img_per_s: float
    peak_memory_mb: float
    memory_kind: str  # 'cuda_max_allocated' or 'cpu_peak_rss'
    process_max_rss_mb: float
    ms_per_iter_all: List[float] = field(default_factory=list)

    def as_dict(self):
        return asdict(self)
