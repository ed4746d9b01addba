# apic.ai honey-bee pose (CC BY-NC-SA 4.0): 32 keypoints, names, colours and
# skeleton as in the dataset's own README. Set up data/bee_pose with
# tools/dataset_converters/bee_pose_to_coco.py (COCO keypoint json, one box per
# bee from the keypoint extent plus a margin).
#
# OKS for COCO-style AP uses one uniform sigma for every keypoint (the
# dataset defines none): 0.05, i.e. a keypoint 5 % of sqrt(box area) away
# from the truth keeps exp(-1/8) = 0.88 of its similarity.
_head, _body, _wing = [255, 0, 0], [0, 0, 255], [0, 255, 0]  # RGB
_left, _right = [255, 255, 0], [0, 255, 255]
_names = [
    'head_front', 'head_left', 'head_right', 'head_back', 'body_center', 'body_back',
    'wing_left', 'wing_right'
] + [f'right_leg_{p}_{i}' for p in ('front', 'middle', 'back') for i in range(1, 5)] + [
    f'left_leg_{p}_{i}' for p in ('front', 'middle', 'back') for i in range(1, 5)
]
_colors = [_head, _head, _head, _body, _body, _body, _wing, _wing] + [_right] * 12 + [_left] * 12


def _swap(name):
    for a, b in (('left', 'right'), ('right', 'left')):
        if a in name:
            return name.replace(a, b)
    return ''


_links = [('head_front', 'head_left', _head), ('head_front', 'head_right', _head),
          ('head_front', 'head_back', _body), ('head_back', 'body_center', _body),
          ('body_center', 'body_back', _body), ('wing_left', 'head_back', _wing),
          ('wing_right', 'head_back', _wing)]
for _side, _c in (('right', _right), ('left', _left)):
    for _part in ('front', 'middle', 'back'):
        _links += [(f'{_side}_leg_{_part}_{i}', f'{_side}_leg_{_part}_{i + 1}', _c)
                   for i in range(1, 4)]

dataset_info = dict(
    dataset_name='bee_pose',
    paper_info=dict(
        author='Marstaller, Julian and Tausch, Frederic and Stock, Simon',
        title='DeepBees - Building and Scaling Convolutional Neuronal Nets For Fast '
        'and Large-scale Visual Monitoring of Bee Hives',
        container='ICCV Workshops',
        year='2019',
        homepage='https://github.com/apic-ai/apic-bee-pose-dataset'),
    keypoint_info={
        i: dict(name=n, id=i, color=c, type='upper' if i < 8 else 'lower', swap=_swap(n))
        for i, (n, c) in enumerate(zip(_names, _colors))
    },
    skeleton_info={
        i: dict(link=(a, b), id=i, color=c)
        for i, (a, b, c) in enumerate(_links)
    },
    joint_weights=[1.0] * 32,
    sigmas=[0.05] * 32)
