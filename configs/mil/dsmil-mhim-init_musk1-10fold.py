# DSMIL + MHIM with MHIM-MIL's recipe: the teacher starts from the DSMIL
# checkpoint of the same fold (train configs/mil/dsmil_musk1-10fold.py on
# that fold first) instead of a copy of the untrained student. `{fold}` is
# filled by `tools/train.py --fold K`; the EMA hook must not copy the student
# over the loaded teacher.
#   python tools/train.py configs/mil/dsmil_musk1-10fold.py --fold 3
#   python tools/train.py configs/mil/dsmil-mhim-init_musk1-10fold.py --fold 3
_base_ = ['./dsmil-mhim_musk1-10fold.py']
model = dict(teacher_init='work_dirs/dsmil_musk1-10fold/fold{fold}/epoch_40.pth')
custom_hooks = [dict(type='TeacherEMAHook', momentum=0.9999, copy_at_start=False)]
