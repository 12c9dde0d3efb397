"""Argument parsing shared by the tools that take ``--cfg-options`` (MMEngine's config only:
light)."""
import argparse

from mmengine.config import DictAction


class CfgOptionsAction(DictAction):
    """MMEngine's ``DictAction`` (``KEY=VALUE`` pairs) where an item without ``=`` is argparse's
    usage error (exit 2) instead of a ``ValueError`` traceback."""

    def __call__(self, parser, namespace, values, option_string=None):
        for value in values:
            if '=' not in value:
                raise argparse.ArgumentError(self, f'expected KEY=VALUE, got {value!r}')
        super().__call__(parser, namespace, values, option_string)
