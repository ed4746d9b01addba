# MUSK1 bags (data/mil/musk1.csv.gz), one stratified 10-fold split per seed
# (data/mil/splits, tools/split_bags.py). Pick the fold with
# `tools/train.py CONFIG --fold K` (sets `fold` of every dataset below); the
# test set of fold K is the bags in its split file marked `test`.
# Features are standardised with statistics of the fold's training bags.
dataset_type = 'MILCsvDataset'
data_root = 'data/mil/'
data_file = 'musk1.csv.gz'
split_file = 'splits/musk1/seed1/fold{fold}.csv'
in_channels = 166
dataset = dict(type=dataset_type, data_root=data_root, data_file=data_file,
               split_file=split_file, fold=0, in_channels=in_channels)
train_dataloader = dict(
    batch_size=1, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(dataset, split='train'))
val_dataloader = dict(
    batch_size=1, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(dataset, split='test'))
test_dataloader = val_dataloader
val_evaluator = dict(type='BagMetric')
test_evaluator = val_evaluator
