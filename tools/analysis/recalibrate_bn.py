"""Re-estimate the batch-norm statistics of a checkpoint on training views
("precise BN"), and validate before and after.

Running statistics trail the weights (an exponential average with
EfficientNet-Lite's momentum of 0.01), and an EMA teacher's statistics come
from the student, not from its own weights. This tool validates the
checkpoint as saved, re-estimates the statistics with
:func:`ssl_dense.engine.hooks.precise_bn` (plain average over ``--batches``
training batches; every batch norm the forward reaches, heads included) and
validates again. A ``TeacherStudent`` has each member re-estimated for its own
weights on the clean branches (labeled and weak views by default; ``--branches
sup`` for the labeled views only); any other model is re-estimated on its
training batches. ``--out`` saves the re-estimated checkpoint, ``--json`` the
metrics. ``PreciseBNHook`` does the same inside training.

The first version of this tool (until 2026-11-23) ran only the backbone and
neck (``extract_feat``), so the heads' batch norms were reset to mean 0 and
variance 1 and not re-estimated; numbers measured with it (README, CamVid
section) carry that flaw.

Example::

    python tools/analysis/recalibrate_bn.py \\
        configs/trs/trs_td-hm_effl0_1xb16-1k_semi-10pct-bee.py \\
        work_dirs/trs/iter_1000.pth --batches 40 --branches sup --json recal.json
"""
import argparse
import json
import os.path as osp
import sys
import tempfile
from typing import Dict, List, Optional

from mmengine.config import Config, DictAction
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
import ssl_dense  # noqa: E402,F401  (registers the ssl_dense modules)
from ssl_dense.engine.hooks import precise_bn, training_batches  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config of the run')
    parser.add_argument('checkpoint', help='checkpoint of that run')
    parser.add_argument('--batches', type=int, default=40,
                        help='training batches to estimate the statistics from')
    parser.add_argument('--branches', nargs='+', default=None,
                        help='branches whose views are used (default: the labeled and weak '
                        'branches of the model)')
    parser.add_argument('--members', nargs='+', default=None, choices=['teacher', 'student'],
                        help='members of a teacher-student model to re-estimate (default: both)')
    parser.add_argument('--out', help='save the re-estimated checkpoint here')
    parser.add_argument('--json', help='write the validation metrics before / after here')
    parser.add_argument('--skip-before', action='store_true',
                        help='do not validate the checkpoint as saved')
    parser.add_argument('--work-dir', help='work directory (default: a temporary one)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config keys, as in tools/train.py')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> Dict[str, Dict[str, float]]:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir or tempfile.mkdtemp(prefix='recalibrate_bn_')
    cfg.default_hooks.checkpoint = None  # validation only: nothing to save
    cfg.load_from = None
    runner = Runner.from_cfg(cfg)
    runner.load_checkpoint(args.checkpoint)
    results = {}
    if not args.skip_before:
        results['before'] = dict(runner.val_loop.run())
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    done = precise_bn(model, training_batches(runner), args.batches, args.branches,
                      args.members, progress=True)
    results['after'] = dict(runner.val_loop.run())
    print(f'\nre-estimated the batch norms of {", ".join(done)} on {args.batches} '
          f'training batches')
    for stage, metrics in results.items():
        shown = '  '.join(f'{k}: {v:.4f}' for k, v in metrics.items()
                          if not k.startswith(('teacher/', 'student/')))
        print(f'{stage:>7}: {shown}')
    if args.out:
        runner.save_checkpoint(osp.dirname(osp.abspath(args.out)), osp.basename(args.out),
                               save_optimizer=False, save_param_scheduler=False)
        print(f'saved {args.out}')
    if args.json:
        with open(args.json, 'w') as f:
            # mmseg's metrics are numpy scalars, which json cannot write.
            json.dump(results, f, indent=1, default=float)
    return results


if __name__ == '__main__':
    main()
