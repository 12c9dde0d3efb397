"""Phantom detectors for the deploy tests, without training: random weights from a fixed seed, with
the classifier and box-regression convs scaled so the head gives a few hundred spread-out
detections per image (a fresh RetinaNet scores every anchor ~0.01, below the 0.05 test
threshold)."""
import torch

CLASSIFIER_LOGIT_STD = 1.5
CLASSIFIER_BIAS = -5.0  # sigmoid(-5) ~ 0.007: most pairs below score_thr, a tail well above it
BOX_DELTA_STD = 0.2


def build_random_detector(config, seed=0):
    """The config's detector with seeded random weights and a spread-out head (see above)."""
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import tbmm.plugin  # noqa: F401

    cfg = Config.fromfile(str(config))
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    head = model.bbox_head
    with torch.no_grad():
        sample = torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(seed))
        cls_scores, bbox_preds = head(model.extract_feat(sample))
        logit_std = torch.cat([c.flatten() for c in cls_scores]).std()
        delta_std = torch.cat([b.flatten() for b in bbox_preds]).std()
        head.retina_cls.weight.mul_(CLASSIFIER_LOGIT_STD / logit_std)
        head.retina_cls.bias.fill_(CLASSIFIER_BIAS)
        head.retina_reg.weight.mul_(BOX_DELTA_STD / delta_std)
    return cfg, model


def save_checkpoint(model, classes, path):
    """A checkpoint as MMEngine writes it: weights and the data set's class names."""
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    torch.save({'state_dict': state, 'meta': {'dataset_meta': {'classes': tuple(classes)}}},
               str(path))
    return path
