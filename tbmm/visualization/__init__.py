"""Drawing detections on chest X-rays."""
from tbmm.visualization.overlay import (
                                        PALETTE,
                                        class_color,
                                        draw_boxes,
                                        draw_gt_vs_pred,
                                        format_label,
                                        save_image,
)

__all__ = ['PALETTE', 'class_color', 'draw_boxes', 'draw_gt_vs_pred', 'format_label', 'save_image']
