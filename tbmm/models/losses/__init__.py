from tbmm.models.losses.float32_focal_loss import Float32FocalLoss
from tbmm.models.losses.multi_label_focal_loss import MultiLabelFocalLoss

__all__ = ['Float32FocalLoss', 'MultiLabelFocalLoss']
