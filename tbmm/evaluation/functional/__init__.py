"""Pure numpy / pycocotools evaluation functions (no torch, no mmcv): cheap to import."""
from .baseline import baseline_predictions, box_prior_baseline, predict_baseline
from .bootstrap import attach_intervals, bootstrap_intervals, group_ids
from .class_curves import class_curves, f1_curve
from .coco import COCO_METRIC_NAMES, coco_ap_per_class
from .confusion import confusion_matrix
from .errors import (
                     ERROR_TYPES,
                     FP_KINDS,
                     classify_errors,
                     delta_ap,
                     error_summary,
                     per_image_errors,
)
from .evaluate import IMAGE_SPECIFICITY, evaluate_records, flat_metrics, froc_key
from .froc import CHESTXDET_FROC_FPS, CLASSIC_FROC_FPS, froc_sequence, recall_at_fp_rates
from .image_level import roc_auc, sensitivity_at_specificity
from .matching import box_iou, check_iou_threshold, match_detections
from .pairing import pair_records
from .report import format_table, plot_froc, write_result_json
from .thresholds import (
                     THRESHOLDS_FORMAT,
                     ThresholdError,
                     load_thresholds,
                     parse_target,
                     select_thresholds,
)
from .voc import ap_from_ranked_matches, average_precision_area

__all__ = [
    'evaluate_records', 'flat_metrics', 'format_table', 'plot_froc', 'write_result_json',
    'froc_key', 'froc_sequence', 'recall_at_fp_rates', 'match_detections', 'box_iou',
    'check_iou_threshold',
    'ap_from_ranked_matches', 'average_precision_area', 'coco_ap_per_class', 'roc_auc',
    'sensitivity_at_specificity', 'COCO_METRIC_NAMES', 'CHESTXDET_FROC_FPS', 'CLASSIC_FROC_FPS',
    'IMAGE_SPECIFICITY', 'bootstrap_intervals', 'attach_intervals', 'group_ids',
    'box_prior_baseline', 'predict_baseline', 'baseline_predictions',
    'select_thresholds', 'load_thresholds', 'parse_target', 'ThresholdError',
    'THRESHOLDS_FORMAT', 'pair_records', 'confusion_matrix', 'class_curves', 'f1_curve',
    'ERROR_TYPES', 'FP_KINDS', 'classify_errors', 'delta_ap', 'error_summary', 'per_image_errors',
]
