"""RetinaHead that trains every class of a box annotated with several."""
from mmdet.models.dense_heads import RetinaHead
from mmdet.registry import MODELS

from tbmm.models.utils.label_sets import check_label_set_classes, merge_identical_gt_instances


@MODELS.register_module()
class MultiLabelRetinaHead(RetinaHead):
    """``RetinaHead`` whose targets give an anchor all the classes of identical boxes.

    mmdet's assigner matches an anchor to one box; with the same box annotated twice
    (Consolidation and Effusion) its anchors went to one of the two and the other class was
    trained as absent there. Identical boxes of an image are merged into one box with the set of
    their classes (``tbmm.models.utils.label_sets``), and the loss trains each class of the set as
    present. Data without shared boxes gets exactly mmdet's targets. Needs a ``loss_cls`` that
    reads label sets: ``MultiLabelFocalLoss`` or ``Float32FocalLoss``. Same arguments as
    ``RetinaHead``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        check_label_set_classes(self.num_classes)
        if not getattr(self.loss_cls, 'reads_label_sets', False):
            raise ValueError(
                f'{type(self).__name__}: loss_cls {type(self.loss_cls).__name__} cannot train '
                f'boxes with several classes; use MultiLabelFocalLoss or Float32FocalLoss (or '
                f"bbox_head.type='RetinaHead' for mmdet's single-label targets)")

    def get_targets(self, anchor_list, valid_flag_list, batch_gt_instances, *args, **kwargs):
        batch_gt_instances = [merge_identical_gt_instances(instances, self.num_classes)
                              for instances in batch_gt_instances]
        return super().get_targets(anchor_list, valid_flag_list, batch_gt_instances, *args,
                                   **kwargs)
