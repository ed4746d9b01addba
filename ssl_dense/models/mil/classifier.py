"""Bag classifiers: a bag aggregator trained with cross-entropy, optionally
with attention-entropy regularisation (AEM) and masked hard-instance mining
with a momentum teacher (MHIM)."""
import copy
import math
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.runner.checkpoint import _load_checkpoint
from mmengine.structures import BaseDataElement
from torch import Tensor

from ssl_dense.registry import MODELS
from .losses import soft_target_cross_entropy

__all__ = ['BagClassifier', 'MHIMBagClassifier']


def _bag_id(sample: Optional[BaseDataElement], index: int) -> str:
    if sample is not None and 'bag_id' in sample:
        return str(sample.bag_id)
    return f'#{index} of the batch'


@MODELS.register_module()
class BagClassifier(BaseModel):
    """Multiple-instance bag classifier.

    Each input is one bag, a ``(instances, features)`` tensor; a batch is a
    list of bags of any sizes. The loss is the bag cross-entropy, plus the
    AEM term when ``aem`` is given. ``predict`` fills ``pred_score`` (class
    probabilities) and ``pred_label`` of each data sample.

    Args:
        aggregator (dict): Config of the bag aggregator, e.g.
            ``dict(type='ABMIL', in_channels=166)``.
        aem (dict, optional): Config of an
            :class:`~ssl_dense.models.mil.AttentionEntropyLoss`. Defaults to
            None.
        data_preprocessor (dict, optional): Defaults to None (move to device).
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self, aggregator: dict, aem: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.aggregator = MODELS.build(aggregator)
        self.aem = MODELS.build(aem) if aem else None

    def forward(self, inputs: Union[Tensor, List[Tensor]],
                data_samples: Optional[List[BaseDataElement]] = None, mode: str = 'tensor'):
        bags = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        if mode == 'loss':
            return self.loss(bags, data_samples)
        if mode == 'predict':
            return self.predict(bags, data_samples)
        if mode == 'tensor':
            return [self._aggregate(self.aggregator, bag, None, i) for i, bag in enumerate(bags)]
        raise ValueError(f'mode must be loss, predict or tensor, got {mode!r}')

    @staticmethod
    def _aggregate(aggregator, bag: Tensor, sample, index: int) -> Dict[str, Tensor]:
        try:
            return aggregator(bag)
        except ValueError as err:
            raise ValueError(f'bag {_bag_id(sample, index)}: {err}') from err

    @staticmethod
    def _labels(data_samples: Sequence[BaseDataElement], device) -> Tensor:
        return torch.stack([torch.as_tensor(s.gt_label).reshape(()) for s in data_samples]).to(
            device=device, dtype=torch.long)

    def loss(self, bags: List[Tensor], data_samples: List[BaseDataElement]) -> Dict[str, Tensor]:
        outs = [self._aggregate(self.aggregator, bag, s, i)
                for i, (bag, s) in enumerate(zip(bags, data_samples))]
        losses = dict(loss_cls=F.cross_entropy(torch.stack([o['logits'] for o in outs]),
                                               self._labels(data_samples, bags[0].device)))
        if self.aem is not None:
            losses['loss_aem'] = torch.stack([self.aem(o['attention']) for o in outs]).mean()
        return losses

    def _predictor(self):
        return self.aggregator

    @torch.no_grad()
    def predict(self, bags: List[Tensor],
                data_samples: Optional[List[BaseDataElement]] = None) -> List[BaseDataElement]:
        model = self._predictor()
        data_samples = data_samples or [BaseDataElement() for _ in bags]
        for i, (bag, sample) in enumerate(zip(bags, data_samples)):
            out = self._aggregate(model, bag, sample, i)
            score = torch.softmax(out['logits'], dim=-1)
            sample.set_field(score, 'pred_score')
            sample.set_field(score.argmax(), 'pred_label')
            sample.set_field(out['attention'], 'attention')
        return data_samples


@MODELS.register_module()
class MHIMBagClassifier(BagClassifier):
    """Masked hard-instance mining with a momentum teacher (MHIM-MIL, Tang et
    al., ICCV 2023).

    The teacher (an EMA of the student, kept by
    :class:`~ssl_dense.engine.hooks.TeacherEMAHook`) sees the whole bag; its
    instance attention chooses which instances the student does not see:

    * high attention: ``ceil(mask_ratio_h * n)`` instances drawn at random
      among the ``ceil(mask_ratio_h / mask_ratio_hr * n)`` with the highest
      attention (``mask_ratio_hr = 1`` masks exactly the top ones);
    * random: ``ceil(mask_ratio * n)`` of the remaining instances;
    * low attention: ``ceil(mask_ratio_l * n)`` with the lowest attention.

    The student classifies the rest (at least one instance stays) and its bag
    embedding is pulled towards the teacher's:
    ``loss = CE + consistency_weight * soft_target_CE(student, teacher / T)``.
    With ``mask_ratio_h_decay='cosine'`` the high-attention ratio falls from
    ``mask_ratio_h`` to 0 along a half cosine over training (the runner's
    ``iter / max_iters`` in the message hub).

    Args:
        aggregator (dict): Config of the bag aggregator (the student).
        mask_ratio_h (float): High-attention mask ratio. Defaults to 0.01.
        mask_ratio_hr (float): Fraction of the high-attention pool that is
            masked, in (0, 1]. Defaults to 0.5.
        mask_ratio (float): Random mask ratio. Defaults to 0.
        mask_ratio_l (float): Low-attention mask ratio. Defaults to 0.
        mask_ratio_h_decay (str, optional): None or ``'cosine'``.
        consistency_weight (float): ``alpha``. Defaults to 0.5.
        temperature (float): Teacher temperature. Defaults to 0.1.
        teacher_init (str, optional): Checkpoint of a baseline trained on the
            same fold; its aggregator weights initialise the teacher (and the
            student, when ``init_student``). Use with
            ``TeacherEMAHook(copy_at_start=False)``. Defaults to None.
        init_student (bool): Also start the student from ``teacher_init``.
            Defaults to False.
        predict_on (str): ``'student'`` or ``'teacher'``. Defaults to
            ``'student'``.
        aem (dict, optional): AEM loss on the student's attention.
        data_preprocessor (dict, optional): Defaults to None.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self, aggregator: dict, mask_ratio_h: float = 0.01, mask_ratio_hr: float = 0.5,
                 mask_ratio: float = 0.0, mask_ratio_l: float = 0.0,
                 mask_ratio_h_decay: Optional[str] = None, consistency_weight: float = 0.5,
                 temperature: float = 0.1, teacher_init: Optional[str] = None,
                 init_student: bool = False, predict_on: str = 'student',
                 aem: Optional[dict] = None, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(aggregator, aem=aem, data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        for name, value in (('mask_ratio_h', mask_ratio_h), ('mask_ratio', mask_ratio),
                            ('mask_ratio_l', mask_ratio_l)):
            if not 0 <= value < 1:
                raise ValueError(f'{name} must be in [0, 1), got {value!r}')
        if not 0 < mask_ratio_hr <= 1:
            raise ValueError(f'mask_ratio_hr must be in (0, 1], got {mask_ratio_hr!r}')
        if mask_ratio_h_decay not in (None, 'cosine'):
            raise ValueError(f"mask_ratio_h_decay must be None or 'cosine', got "
                             f'{mask_ratio_h_decay!r}')
        if predict_on not in ('student', 'teacher'):
            raise ValueError(f"predict_on must be 'student' or 'teacher', got {predict_on!r}")
        self.mask_ratio_h = mask_ratio_h
        self.mask_ratio_hr = mask_ratio_hr
        self.mask_ratio = mask_ratio
        self.mask_ratio_l = mask_ratio_l
        self.mask_ratio_h_decay = mask_ratio_h_decay
        self.consistency_weight = consistency_weight
        self.temperature = temperature
        self.predict_on = predict_on
        self.teacher = copy.deepcopy(self.aggregator)
        self.teacher.requires_grad_(False)
        # Read by TeacherEMAHook: a teacher that must not be reset to the
        # student when training starts.
        self.teacher_init_from = teacher_init if teacher_init and not init_student else None
        if teacher_init:
            state = _aggregator_state(teacher_init)
            self.teacher.load_state_dict(state)
            if init_student:
                self.aggregator.load_state_dict(state)

    @property
    def student(self):
        """The aggregator trained by gradients (for the EMA hook)."""
        return self.aggregator

    def train(self, mode: bool = True) -> 'MHIMBagClassifier':
        super().train(mode)
        self.teacher.eval()  # frozen; no dropout in the teacher's view
        return self

    def _predictor(self):
        return self.teacher if self.predict_on == 'teacher' else self.aggregator

    def current_mask_ratio_h(self) -> float:
        """``mask_ratio_h`` after its decay at the current training iteration."""
        if self.mask_ratio_h_decay is None:
            return self.mask_ratio_h
        hub = MessageHub.get_current_instance()
        it, total = hub.get_info('iter', 0), hub.get_info('max_iters', None)
        if not total:
            return self.mask_ratio_h
        return self.mask_ratio_h * 0.5 * (1 + math.cos(math.pi * min(it / total, 1.0)))

    def keep_mask(self, attention: Tensor) -> Tensor:
        """Boolean mask of the instances the student sees, from the teacher's
        attention ``(n, )``."""
        n = attention.numel()
        keep = torch.ones(n, dtype=torch.bool, device=attention.device)
        order = attention.argsort(descending=True)
        ratio_h = self.current_mask_ratio_h()
        if ratio_h > 0:
            pool = order[:min(n, math.ceil(ratio_h / self.mask_ratio_hr * n))]
            chosen = pool[torch.randperm(len(pool), device=pool.device)[:math.ceil(ratio_h * n)]]
            keep[chosen] = False
        if self.mask_ratio_l > 0:
            keep[order[n - math.ceil(self.mask_ratio_l * n):]] = False
        if self.mask_ratio > 0:
            rest = keep.nonzero().squeeze(1)
            rest = rest[torch.randperm(len(rest), device=rest.device)]
            keep[rest[:math.ceil(self.mask_ratio * n)]] = False
        if not keep.any():  # the student always sees something
            keep[order[-1]] = True
        return keep

    def loss(self, bags: List[Tensor], data_samples: List[BaseDataElement]) -> Dict[str, Tensor]:
        logits, consistency, aem = [], [], []
        for i, (bag, sample) in enumerate(zip(bags, data_samples)):
            with torch.no_grad():
                teacher = self._aggregate(self.teacher, bag, sample, i)
            student = self._aggregate(self.aggregator, bag[self.keep_mask(teacher['attention'])],
                                      sample, i)
            logits.append(student['logits'])
            consistency.append(soft_target_cross_entropy(
                student['embedding'], teacher['embedding'], self.temperature))
            if self.aem is not None:
                aem.append(self.aem(student['attention']))
        losses = dict(
            loss_cls=F.cross_entropy(torch.stack(logits),
                                     self._labels(data_samples, bags[0].device)),
            loss_consistency=self.consistency_weight * torch.stack(consistency).mean())
        if aem:
            losses['loss_aem'] = torch.stack(aem).mean()
        return losses


def _aggregator_state(path: str) -> Dict[str, Tensor]:
    """Aggregator weights from a BagClassifier checkpoint (or an MHIM one: its
    student)."""
    checkpoint = _load_checkpoint(path, map_location='cpu')
    state = checkpoint.get('state_dict', checkpoint)
    out = {k[len('aggregator.'):]: v for k, v in state.items() if k.startswith('aggregator.')}
    if not out:
        raise KeyError(f'{path} has no aggregator.* weights; teacher_init needs a checkpoint of '
                       'a BagClassifier trained on the same fold')
    return out
