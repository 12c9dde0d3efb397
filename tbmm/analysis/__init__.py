"""Data set and training-run analysis behind ``tools/analysis_tools/dataset_stats.py``,
``tools/analysis_tools/plot_curves.py`` and ``tools/analysis_tools/compare.py``.

The modules are light to import (numpy only): :mod:`.stats` (counts, sizes, co-occurrence),
:mod:`.curves` (MMEngine scalar logs), :mod:`.compare` (per-class metrics of several runs).
:mod:`.anchors` (anchor coverage of a config) imports mmdet when used.
"""
