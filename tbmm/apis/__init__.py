from .runner import load_config, prepare_test_config, prepare_train_config, run_test, run_train

__all__ = ['load_config', 'prepare_train_config', 'prepare_test_config', 'run_train', 'run_test']
