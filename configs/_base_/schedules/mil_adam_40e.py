# ABMIL's optimiser (Ilse et al. 2018: Adam, lr 5e-4, betas 0.9/0.999, weight
# decay 5e-3), one bag per step, 40 epochs, evaluated at the end.
optim_wrapper = dict(optimizer=dict(type='Adam', lr=5e-4, betas=(0.9, 0.999), weight_decay=5e-3))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=40, val_interval=40)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
