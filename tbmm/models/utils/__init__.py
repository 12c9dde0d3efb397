from tbmm.models.utils.label_sets import (
                                          decode_label_sets,
                                          encode_label_sets,
                                          merge_identical_boxes,
                                          merge_identical_gt_instances,
)

__all__ = ['decode_label_sets', 'encode_label_sets', 'merge_identical_boxes',
           'merge_identical_gt_instances']
