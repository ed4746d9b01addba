# ELEPHANT bags (data/mil/elephant.csv.gz); see mil_musk1.py.
_base_ = ['./mil_musk1.py']
data_file = 'elephant.csv.gz'
split_file = 'splits/elephant/seed1/fold{fold}.csv'
in_channels = 230
# 121 of the 230 features are (nearly) constant in a fold's training bags;
# standardised test values are clipped to +-10 so that they stay bounded.
dataset = dict(data_file=data_file, split_file=split_file, in_channels=in_channels, clip=10.0)
train_dataloader = dict(dataset=dict(dataset, split='train'))
val_dataloader = dict(dataset=dict(dataset, split='test'))
test_dataloader = val_dataloader
