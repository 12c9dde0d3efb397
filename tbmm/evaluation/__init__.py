"""Evaluation: one core (:func:`evaluate_records`) behind the offline CLI and the online metric.

``ChestXDetMetric`` is imported lazily: it needs mmdet (torch, mmcv), which the offline tools
should not pay for. Importing :mod:`tbmm.evaluation.metrics` registers it in mmdet's METRICS.
"""
from .functional import evaluate_records, flat_metrics, format_table, plot_froc, write_result_json

__all__ = ['evaluate_records', 'flat_metrics', 'format_table', 'plot_froc', 'write_result_json',
           'ChestXDetMetric']


def __getattr__(name):
    if name == 'ChestXDetMetric':
        from .metrics import ChestXDetMetric
        return ChestXDetMetric
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
