"""MMEngine metrics; importing this module registers them in mmdet's METRICS registry."""
from .chestxdet_metric import ChestXDetMetric

__all__ = ['ChestXDetMetric']
