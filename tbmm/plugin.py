"""Importing this module plugs tbmm into MMDetection/MMEngine (configs do it with
``custom_imports = dict(imports=['tbmm.plugin'])``): :func:`tbmm.setup_env.register_all_modules`
registers tbmm's parts and makes MMEngine load checkpoints weights-only, with an allow-list.
"""
from tbmm.setup_env import register_all_modules

register_all_modules(init_default_scope=False)
