"""Train a tbmm config with MMEngine's Runner.

    python tools/train.py configs/tb_retinanet/retinanet_r101_fpn_10e_chestxdet.py
    python tools/train.py CONFIG --work-dir work_dirs/run1 --amp \\
        --cfg-options train_cfg.max_epochs=2
    python tools/train.py CONFIG --resume            # continue from the latest checkpoint
                                                     # in the work dir
    python tools/train.py CONFIG --vis tensorboard   # also to TensorBoard:
                                                     # tensorboard --logdir WORK_DIR
"""
import argparse
import sys

from tbmm.cli import CfgOptionsAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a tbmm detector')
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision training')
    parser.add_argument('--amp-dtype', default='float16', choices=['float16', 'bfloat16'],
                        help='autocast dtype with --amp')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the LR by total batch size (already on in tbmm configs)')
    parser.add_argument('--no-auto-scale-lr', action='store_true',
                        help='use the config LR as is, whatever the batch size')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from the given checkpoint, or without a value from the latest '
                        'checkpoint in the work dir')
    parser.add_argument('--unsafe-load-checkpoint', action='store_true',
                        help='allow checkpoints that fail torch\'s weights-only check '
                        '(full pickle: only for files you trust)')
    parser.add_argument('--load-from', help='initialise the model from this checkpoint')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config settings, e.g. train_cfg.max_epochs=2')
    parser.add_argument('--vis', action='append', choices=['tensorboard'], default=[],
                        help="also log to this visualization backend: 'tensorboard' (losses, LR, "
                        "every validation metric per class, in WORK_DIR/<timestamp>/vis_data; "
                        "needs the tensorboard package: pip install 'tbmm[tensorboard]')")
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher (tools/dist_train.sh uses pytorch)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if args.auto_scale_lr and args.no_auto_scale_lr:
        parser.error('--auto-scale-lr and --no-auto-scale-lr exclude each other')
    return args


def main(argv=None):
    args = parse_args(argv)
    import os
    if args.unsafe_load_checkpoint:
        from tbmm.checkpoint import allow_unsafe_checkpoint_loading
        allow_unsafe_checkpoint_loading(True)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    import tbmm.plugin  # noqa: F401  (also for configs that do not import it themselves)
    from tbmm.apis import prepare_train_config, run_train

    auto_scale_lr = True if args.auto_scale_lr else (False if args.no_auto_scale_lr else None)
    cfg = prepare_train_config(
        args.config, work_dir=args.work_dir, cfg_options=args.cfg_options, amp=args.amp,
        amp_dtype=args.amp_dtype, auto_scale_lr=auto_scale_lr, resume=args.resume,
        load_from=args.load_from, launcher=args.launcher, vis=args.vis)
    runner = run_train(cfg)
    print(f'Training finished; logs and checkpoints in {runner.work_dir}')
    return 0


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
