# + Keypoint-Mix on the strong view: for half the unlabeled crops, patches
# of 1/8 of the crop side (16 pixels at 128x128) around 2 keypoints of
# another crop are pasted onto this crop's same keypoints, pseudo heatmaps
# alike.
_base_ = ['./mean-teacher_td-hm_effl0_1xb16-1k_semi-10pct-bee.py']
model = dict(strong_batch_augments=[
    dict(type='KeypointMix', num_keypoints=2, patch_size=0.125, prob=0.5)])
