# ABMIL + masked hard-instance mining with a momentum teacher (MHIM-MIL) on
# MUSK1. The teacher starts as a copy of the student and follows it with keep
# rate 0.9999 (the core TeacherEMAHook); it masks 10 % of the instances,
# drawn from its top-20 % attention, for the student.
_base_ = ['./abmil_musk1-10fold.py']
model = dict(
    _delete_=True,
    type='MHIMBagClassifier',
    aggregator=dict(type='ABMIL', in_channels={{_base_.in_channels}}),
    mask_ratio_h=0.1, mask_ratio_hr=0.5, consistency_weight=0.5, temperature=0.1)
custom_hooks = [dict(type='TeacherEMAHook', momentum=0.9999)]
