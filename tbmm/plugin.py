"""Importing this module plugs tbmm into MMDetection/MMEngine (configs do it with
``custom_imports = dict(imports=['tbmm.plugin'])``).

It registers tbmm's parts (:func:`tbmm.setup_env.register_all_modules`) and makes MMEngine load
checkpoints with torch's ``weights_only=True`` and an allow-list of what MMEngine saves.
"""
from tbmm.checkpoint import setup_checkpoint_loading
from tbmm.setup_env import register_all_modules

setup_checkpoint_loading()
register_all_modules(init_default_scope=False)
