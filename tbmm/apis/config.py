"""Reading a config file for the tools, and what a config says about its data (class names)."""
import os
import os.path as osp

from mmengine.config import Config

from tbmm.datasets.dataset_cfg import innermost_dataset
from tbmm.errors import UserInputError

#: What MMEngine's ``Config.fromfile`` reads.
CONFIG_SUFFIXES = ('.py', '.json', '.yaml', '.yml')


class RunConfigError(UserInputError):
    """A config or command-line choice that cannot run here (the tools print it as one line)."""


def load_config(config, cfg_options=None):
    """Read a config file (``mmdet::`` bases resolve through the installed mmdet) and apply
    overrides."""
    config = os.fspath(config)
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file not found: {config}')
    if not config.endswith(CONFIG_SUFFIXES):
        raise RunConfigError(
            f'{config}: not a config file (a config is {"/".join(CONFIG_SUFFIXES)}; '
            f'the tools take the config first, then the checkpoint)')
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def config_classes(cfg, dataloader='test_dataloader'):
    """The class names of a data loader's data set (through wrappers such as
    ``ClassBalancedDataset``): its ``metainfo``, else ``ChestXDetDataset``'s defaults; ``None``
    where the config does not say (another data set type without ``metainfo``)."""
    dataset = innermost_dataset((cfg.get(dataloader) or {}).get('dataset') or {})
    classes = (dataset.get('metainfo') or {}).get('classes')
    if classes is None and dataset.get('type') in ('ChestXDetDataset', 'mmdet.ChestXDetDataset'):
        from tbmm.datasets.chestxdet import ChestXDetDataset
        classes = ChestXDetDataset.METAINFO['classes']
    return classes
