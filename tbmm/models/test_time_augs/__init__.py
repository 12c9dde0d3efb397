from tbmm.models.test_time_augs.wbf_tta import (
                                                WBFTTAModel,
                                                fuse_samples,
                                                fuse_views,
                                                load_weighted_boxes_fusion,
)

__all__ = ['WBFTTAModel', 'fuse_samples', 'fuse_views', 'load_weighted_boxes_fusion']
