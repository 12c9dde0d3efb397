"""--cfg-options: an item without '=' is a usage error (exit 2, one line), in every tool."""
import importlib

import pytest

from tbmm.utils import run_cli
from tests.engine.tool_runs import tool_path

PHANTOM = 'configs/tb_retinanet/phantom/retinanet_r18_fpn_phantom.py'


@pytest.mark.parametrize('tool', ['train', 'test', 'infer', 'browse_dataset'])
def test_cfg_option_without_a_value_is_a_usage_error(tool, capsys):
    parse_args = importlib.import_module(
        tool_path(tool)[:-len('.py')].replace('/', '.')).parse_args
    positional = {'train': [PHANTOM], 'test': [PHANTOM, 'x.pth'],
                  'infer': [PHANTOM, 'x.pth', 'scans'], 'browse_dataset': [PHANTOM]}[tool]
    with pytest.raises(SystemExit) as info:
        parse_args([*positional, '--cfg-options', 'train_cfg.max_epochs'])
    assert info.value.code == 2
    assert ("--cfg-options: expected KEY=VALUE, got 'train_cfg.max_epochs'"
            in capsys.readouterr().err)


def test_benchmark_cfg_option_without_a_value_is_one_error_line(capsys):
    main = importlib.import_module('tools.analysis_tools.benchmark').main
    assert run_cli(main, [PHANTOM, '--cfg-options', 'model.type']) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: argument --cfg-options: expected KEY=VALUE, got 'model.type'"


def test_values_still_parse_as_in_mmengine():
    parse_args = importlib.import_module('tools.train').parse_args
    args = parse_args([PHANTOM, '--cfg-options', 'train_cfg.max_epochs=2', 'a.b=[1,2]'])
    assert args.cfg_options == {'train_cfg.max_epochs': 2, 'a.b': [1, 2]}
