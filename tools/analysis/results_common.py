"""What every results script shares: run tools/train.py and tools/test.py as
subprocesses, read the metrics they print, and upsert rows into
docs/results/<family>.json."""
import json
import os
import os.path as osp
import re
import subprocess
import sys
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
METRIC_LINE = re.compile(r'Test metrics of .*?: (.*)$', re.MULTILINE)


def _machine() -> str:
    """The machine a results row was produced on (rows say how they were made)."""
    import torch
    if torch.cuda.is_available():
        return f'{os.cpu_count()} CPU cores, 1x {torch.cuda.get_device_name(0)}'
    return f'{os.cpu_count()} CPU cores, no GPU'


MACHINE = _machine()


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))


def abs_work_dir(work_dir: str) -> str:
    return work_dir if osp.isabs(work_dir) else osp.join(ROOT, work_dir)


def last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint a training of ``work_dir`` last wrote (mmengine's
    ``last_checkpoint`` pointer), or None when it wrote none."""
    pointer = osp.join(abs_work_dir(work_dir), 'last_checkpoint')
    if not osp.isfile(pointer):
        return None
    with open(pointer) as f:
        checkpoint = f.read().strip()
    return checkpoint if osp.isfile(checkpoint) else None


def finished_checkpoint(work_dir: str, iters: int) -> Optional[str]:
    """The last checkpoint of ``work_dir`` if it is ``iter_<iters>.pth`` and
    the training log of :func:`train` is there, else None."""
    if not osp.isfile(abs_work_dir(work_dir) + '.train.log'):
        return None
    checkpoint = last_checkpoint(work_dir)
    if checkpoint and osp.basename(checkpoint) == f'iter_{iters}.pth':
        return checkpoint
    return None


def split_config(config: str, default_split: str, split: str) -> str:
    """The config named for ``split`` (``config`` with ``default_split`` in its
    name replaced) where that file exists, else ``config``; the results
    scripts' split options then select the split seed either way."""
    named = config.replace(default_split, split)
    return named if osp.isfile(osp.join(ROOT, named)) else config


def refuse_diagnostics(parser, methods, out: str, diagnostics) -> None:
    """Stop (``parser.error``) when a diagnostic method (one that reads the
    truth of the unlabeled images, e.g. ``oracle``) would write its rows to
    the results file, ``parser``'s default ``--out``; elsewhere it may."""
    asked = sorted(set(methods) & set(diagnostics))
    if asked and osp.abspath(out) == osp.abspath(parser.get_default('out')):
        parser.error(f'{asked} read the truth of the unlabeled images and are not results: '
                     f'write them with --out somewhere other than {out}')


def stretch_options(config: str, iters: int) -> List[str]:
    """``--cfg-options`` that run the whole schedule of ``config`` at
    ``iters`` iterations instead of its ``train_cfg.max_iters``: a scheduler
    that ends at the old length ends at the new one (e.g. a poly decay),
    step milestones scale with it, and validation and checkpoint intervals
    keep their share of the run; warm-ups and burn-ins keep their iteration
    counts.

    Args:
        config (str): Config path relative to the repository root.
        iters (int): New schedule length.

    Returns:
        list[str]: ``key=value`` options for ``tools/train.py --cfg-options``.
    """
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, config))
    old = int(cfg.train_cfg.max_iters)

    def scaled(value: int) -> int:
        return max(1, round(value * iters / old))

    options = [f'train_cfg.max_iters={iters}',
               f'train_cfg.val_interval={scaled(cfg.train_cfg.get("val_interval", old))}']
    checkpoint = cfg.get('default_hooks', {}).get('checkpoint', {})
    if 'interval' in checkpoint and checkpoint['interval'] > 0:
        options.append(f'default_hooks.checkpoint.interval={scaled(checkpoint["interval"])}')
    schedulers = cfg.get('param_scheduler') or []
    for i, scheduler in enumerate([schedulers] if isinstance(schedulers, dict) else schedulers):
        if scheduler.get('end') == old:
            options.append(f'param_scheduler.{i}.end={iters}')
        if 'milestones' in scheduler:
            steps = ','.join(str(scaled(m)) for m in scheduler['milestones'])
            options.append(f'param_scheduler.{i}.milestones=[{steps}]')
    return options


def length_options(config: str, iters: Optional[int], max_iters: Optional[int]) -> List[str]:
    """``--cfg-options`` for the schedule length of a results run: ``iters``
    stretches the whole schedule (:func:`stretch_options`, a result),
    ``max_iters`` only stops the configured one early (a pipeline check);
    neither: the config's own schedule."""
    if iters:
        return stretch_options(config, iters)
    if max_iters:
        return [f'train_cfg.max_iters={max_iters}', f'train_cfg.val_interval={max_iters}',
                f'default_hooks.checkpoint.interval={max_iters}']
    return []


def sized_entries(cfg, keys: Sequence[str], sections: Sequence[str]
                  ) -> Iterator[Tuple[str, str, tuple]]:
    """``(--cfg-options key, key, value)`` of every list or tuple value named
    one of ``keys`` (e.g. ``crop_size``, ``input_size``) anywhere under the
    ``sections`` of ``cfg`` (e.g. ``model``, ``train_dataloader``)."""
    def walk(node, path):
        items = (node.items() if isinstance(node, dict) else
                 enumerate(node) if isinstance(node, (list, tuple)) else ())
        for key, value in items:
            where = f'{path}.{key}'
            if key in keys and isinstance(value, (list, tuple)):
                yield where, key, tuple(value)
            else:
                yield from walk(value, where)

    for section in sections:
        yield from walk(cfg.get(section), section)


def scaled_size_options(config: str, entries, old: int, size: int) -> List[str]:
    """``--cfg-options`` that scale every ``(where, key, value)`` of
    ``entries`` (from :func:`sized_entries`) by ``size / old``; a value that
    would not stay whole pixels is refused, naming ``config`` and the key."""
    options = []
    for where, _, value in entries:
        new = [side * size / old for side in value]
        if any(side != int(side) for side in new):
            raise ValueError(f'{config}: {where}={value} does not scale to whole pixels at '
                             f'input size {size}')
        options.append(f'{where}=({int(new[0])},{int(new[1])})')
    return options


def add_reuse_arguments(parser) -> None:
    """``--reuse`` and ``--checkpoint-interval``, as every results script
    that trains mmengine runs offers them (see :func:`train`)."""
    parser.add_argument('--reuse', action='store_true',
                        help='test runs whose work directory already holds the final '
                        'checkpoint instead of training them again; resume runs that were '
                        'stopped part-way from their last checkpoint')
    parser.add_argument('--checkpoint-interval', type=int, metavar='N',
                        help='save a checkpoint every N iterations (the last two kept, besides '
                        'a best one), so that a stopped run resumes with --reuse close to '
                        'where it stopped; results do not depend on it')


def checkpoint_options(interval: Optional[int]) -> List[str]:
    """``--cfg-options`` for ``--checkpoint-interval`` (none without one)."""
    if not interval:
        return []
    return [f'default_hooks.checkpoint.interval={interval}',
            'default_hooks.checkpoint.max_keep_ckpts=2']


def train(config: str, work_dir: str, options: Sequence[str], what: str,
          reuse_iters: Optional[int] = None) -> str:
    """Train ``config`` with tools/train.py and return the path of the last
    checkpoint. Its output goes to ``<work_dir>.train.log`` as it runs, so a
    long run can be followed with ``tail -f`` and a killed one leaves its log.

    With ``reuse_iters``, a run of ``work_dir`` that already finished at that
    iteration (see :func:`finished_checkpoint`) is not trained again, and one
    that was stopped part-way resumes from its last checkpoint (optimizer,
    scheduler, teacher and hooks' state included; the data order after the
    resume is drawn afresh), its log appended to. So a stopped sweep goes on
    where it stopped; a smaller ``default_hooks.checkpoint.interval`` in
    ``options`` makes the resume points closer.
    """
    resume = None
    if reuse_iters:
        done = finished_checkpoint(work_dir, reuse_iters)
        if done:
            print(f'   {what}: reusing {done}', flush=True)
            return done
        resume = last_checkpoint(work_dir)
        if resume:
            print(f'   {what}: resuming from {resume}', flush=True)
    work_dir = abs_work_dir(work_dir)
    os.makedirs(osp.dirname(work_dir) or '.', exist_ok=True)
    log = work_dir + '.train.log'
    args = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), config, '--work-dir', work_dir]
    if resume:
        args += ['--resume', resume]
    with open(log, 'a' if resume else 'w') as f:
        if resume:
            f.write(f'\n===== resumed from {resume} =====\n')
            f.flush()
        proc = subprocess.run(args + ['--cfg-options', *options], cwd=ROOT, env=_env(),
                              stdout=f, stderr=subprocess.STDOUT, text=True)
    if proc.returncode:
        with open(log) as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f'training {what} failed (log: {log}):\n{tail}')
    return last_checkpoint(work_dir)


def train_log(work_dir: str) -> str:
    """The training log that :func:`train` wrote for ``work_dir``."""
    with open(abs_work_dir(work_dir) + '.train.log') as f:
        return f.read()


def parse_pseudo_quality(log: str, last: int = 3) -> Dict[str, float]:
    """Mean pseudo-label precision and recall (points) over the last logged
    intervals of a training log (``model.hidden_gt=True`` runs)."""
    out = {}
    for key in ('pl_precision', 'pl_recall'):
        values = [float(v) for v in re.findall(rf'Iter\(train\).*?\s{key}: ([\d.]+)', log)]
        if values:
            out[key] = round(100 * sum(values[-last:]) / len(values[-last:]), 1)
    return out


def parse_member_metrics(log: str, member: str, keys: Dict[str, str]) -> Dict[str, float]:
    """Metrics of one member of a teacher-student model (``teacher`` or
    ``student``) from the last validation line of a training log
    (see ``TeacherStudentValLoop``), in points.

    Args:
        log (str): Text of the training log.
        member (str): Metric prefix to read.
        keys (dict): Row key -> metric name, e.g. ``{'student_PCK': 'PCK'}``.

    Returns:
        dict: The row keys found, each rounded to 0.1 point.
    """
    lines = re.findall(r'Iter\(val\).*', log)
    if not lines:
        return {}
    out = {}
    for key, metric in keys.items():
        match = re.search(rf'\s{member}/{re.escape(metric)}: ([-\d.]+)', lines[-1])
        if match:
            out[key] = round(100 * float(match.group(1)), 1)
    return out


def parse_metrics(output: str, empty: Optional[Dict[str, float]] = None) -> Dict[str, float]:
    """Metrics from the summary line that tools/test.py prints.

    ``empty`` is returned when tools/test.py says the evaluator returned none
    (e.g. COCO evaluation of a detector with no box above its threshold).
    """
    if 'No test metrics for' in output and empty is not None:
        return dict(empty)
    match = METRIC_LINE.search(output)
    if not match:
        raise RuntimeError('tools/test.py printed no "Test metrics of" line:\n' + output[-2000:])
    pairs = re.findall(r'([\w/.]+): ([-\d.]+)', match.group(1))
    return {k: float(v) for k, v in pairs}


def run_script(script: str, args: Sequence[str], what: str) -> str:
    """Run ``script`` (relative to the repository) with this Python; return
    its stdout, or raise with the end of its stderr naming ``what``."""
    proc = subprocess.run([sys.executable, osp.join(ROOT, script), *args], cwd=ROOT,
                          env=_env(), capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f'{what} failed:\n{proc.stderr[-3000:]}')
    return proc.stdout


def test(config: str, checkpoint: str, work_dir: str, what: str,
         options: Sequence[str] = (), empty: Optional[Dict[str, float]] = None
         ) -> Dict[str, float]:
    """Evaluate ``checkpoint`` with tools/test.py; return its metrics."""
    args = [config, checkpoint, '--work-dir', osp.join(abs_work_dir(work_dir), 'test')]
    if options:
        args += ['--cfg-options', *options]
    return parse_metrics(run_script('tools/test.py', args, f'testing {what}'), empty)


def upsert(path: str, row: dict,
           key: Sequence[str] = ('method', 'split', 'seed', 'iters', 'input_size')
           ) -> List[dict]:
    """Add ``row`` to the JSON list in ``path``, replacing the row of the same run.

    Several result scripts may run side by side: the read-modify-write holds
    an exclusive lock on ``path + '.lock'``, and the new list replaces the old
    file atomically, so a crash never leaves a half-written results file.
    """
    import fcntl
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path + '.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rows = json.load(open(path)) if osp.isfile(path) else []
        ident = tuple(row.get(k) for k in key)
        rows = [r for r in rows if tuple(r.get(k) for k in key) != ident] + [row]
        rows.sort(key=lambda r: (r.get('iters') or 0, r.get('input_size') or 0, r['method'],
                                 str(r['split']), r.get('seed') or 0))
        tmp = f'{path}.tmp{os.getpid()}'
        with open(tmp, 'w') as f:
            json.dump(rows, f, indent=1)
        os.replace(tmp, path)
    return rows


def run_all(methods: Sequence[str], splits: Sequence[str], seeds: Sequence[int],
            run_one: Callable[[str, str, int], dict], out: str,
            full_methods: Sequence[str] = (), summary: Callable[[dict], str] = str
            ) -> List[dict]:
    """Run every (method, split, seed), upserting each row into ``out`` as it
    comes (a stopped run keeps what it measured). Methods in ``full_methods``
    train on all labels and run once per seed with split ``'100pct'``."""
    rows = []
    for method in methods:
        for split in (['100pct'] if method in full_methods else splits):
            for seed in seeds:
                print(f'== {method} {split} seed {seed}', flush=True)
                row = run_one(method, split, seed)
                upsert(out, row)
                print(f'   {summary(row)}', flush=True)
                rows.append(row)
    return rows
