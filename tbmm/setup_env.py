"""Explicit registration of tbmm's parts in MMDetection's registries (mmyolo's ``setup_env``
pattern), and the safe checkpoint loading every tbmm entry point uses."""


def register_all_modules(init_default_scope=True):
    """Register tbmm's data set, transforms, models, hooks, optimizer wrappers and metrics, and
    MMDetection's own modules, in MMDetection's registries; and make MMEngine load checkpoints
    with torch's ``weights_only=True`` and an allow-list of what MMEngine saves
    (:func:`tbmm.checkpoint.setup_checkpoint_loading`).

    Importing a module runs its ``@register_module()`` decorators; this is the one place that
    lists them, so a new registered module is added here. Safe to call more than once.

    Args:
        init_default_scope: also make ``mmdet`` the default registry scope (what
            ``mmdet.utils.register_all_modules`` does), for code that builds parts outside a
            Runner.
    """
    from mmdet.utils import register_all_modules as register_mmdet_modules

    import tbmm.datasets.chestxdet  # noqa: F401
    import tbmm.datasets.transforms  # noqa: F401
    import tbmm.engine.hooks  # noqa: F401
    import tbmm.engine.optimizers  # noqa: F401
    import tbmm.evaluation.metrics  # noqa: F401
    import tbmm.models  # noqa: F401  (detectors, heads, losses, layers, TTA model)
    from tbmm.checkpoint import setup_checkpoint_loading
    register_mmdet_modules(init_default_scope=init_default_scope)
    setup_checkpoint_loading()
