"""``run_cli``: user mistakes end in one ``error:`` line, also when a DataLoader worker made
them."""
import pytest
from torch.utils.data import DataLoader, Dataset

from tbmm.utils import run_cli


class _OneItem(Dataset):
    """One item, loaded by calling ``load`` (in the DataLoader's worker process)."""

    def __init__(self, load):
        self.load = load

    def __len__(self):
        return 1

    def __getitem__(self, index):
        return self.load()


def _iterate(load):
    def main(argv):
        for _ in DataLoader(_OneItem(load), num_workers=1):
            pass
    return main


class _ReadImage:
    def __init__(self, path):
        self.path = path

    def __call__(self):
        from tbmm.datasets.image_io import read_xray
        return read_xray(self.path)


def test_unreadable_image_in_a_worker_is_one_error_line(tmp_path, capsys):
    missing = tmp_path / 'missing.png'
    assert run_cli(_iterate(_ReadImage(missing)), []) == 2
    assert capsys.readouterr().err.strip() == f'error: {missing}: no such file'


class _UnsafeCheckpoint:
    # An error type PyTorch cannot rebuild from one message: re-raised as a RuntimeError.
    def __call__(self):
        from tbmm.checkpoint import UnsafeCheckpointError
        raise UnsafeCheckpointError('/data/model.pth', ['os.system'])


def test_user_error_re_raised_as_runtime_error_is_one_error_line(capsys):
    assert run_cli(_iterate(_UnsafeCheckpoint()), []) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: /data/model.pth: refusing to load this checkpoint: ')
    assert '\n' not in err


class _Bug:
    def __call__(self):
        raise ZeroDivisionError('a bug, not a user mistake')


def test_other_errors_in_a_worker_keep_their_traceback():
    with pytest.raises(ZeroDivisionError, match='a bug, not a user mistake'):
        run_cli(_iterate(_Bug()), [])


def _build_from_config(cfg):
    def main(argv):
        from mmdet.registry import MODELS
        from mmengine.registry import init_default_scope
        init_default_scope('mmdet')
        MODELS.build(cfg)
    return main


def test_misspelt_type_in_a_config_is_one_error_line(capsys):
    assert run_cli(_build_from_config(dict(type='RetinaHed')), []) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: RetinaHed is not in the mmdet::model registry: a misspelt type')
    assert '\n' not in err


def test_misspelt_key_in_a_config_is_one_error_line(repo_root, capsys):
    from tbmm.apis.runner import load_config
    cfg = load_config(str(repo_root / 'configs/tb_retinanet/phantom/retinanet_r18_fpn_phantom.py'))
    cfg = cfg.model
    cfg.backbone.depht = 18
    assert run_cli(_build_from_config(cfg), []) == 2
    err = capsys.readouterr().err.strip()
    assert "unexpected keyword argument 'depht'" in err
    assert err.endswith('a misspelt or misplaced key in the config or --cfg-options')


def test_a_type_error_of_tbmm_itself_keeps_its_traceback():
    def main(argv):
        def takes_nothing():
            pass
        takes_nothing(unexpected=1)  # not raised while MMEngine builds from a config
    with pytest.raises(TypeError, match='unexpected keyword argument'):
        run_cli(main, [])


def test_logger_level_is_restored_after_the_block_even_on_error():
    import logging

    from tbmm.utils import logger_level

    logger = logging.getLogger('tbmm.test.logger_level')
    logger.setLevel(logging.INFO)
    with logger_level(logging.ERROR, logger):
        assert logger.level == logging.ERROR
    assert logger.level == logging.INFO
    try:
        with logger_level(logging.ERROR, logger):
            raise KeyError('x')
    except KeyError:
        pass
    assert logger.level == logging.INFO
    root = logging.getLogger()
    before = root.level
    with logger_level(logging.CRITICAL):
        assert root.level == logging.CRITICAL
    assert root.level == before
