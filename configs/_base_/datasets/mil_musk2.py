# MUSK2 bags (data/mil/musk2.csv.gz); see mil_musk1.py.
_base_ = ['./mil_musk1.py']
data_file = 'musk2.csv.gz'
split_file = 'splits/musk2/seed1/fold{fold}.csv'
in_channels = 166
dataset = dict(data_file=data_file, split_file=split_file, in_channels=in_channels)
train_dataloader = dict(dataset=dict(dataset, split='train'))
val_dataloader = dict(dataset=dict(dataset, split='test'))
test_dataloader = val_dataloader
