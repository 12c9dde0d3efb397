# retinanet_nih8_cpu.py with the phantom's flip-only augmentation: the comparison behind the CPU
# recipe's choice of augmentation (README "Real radiographs").
_base_ = './retinanet_nih8_cpu.py'

train_pipeline = [step for step in _base_.train_pipeline
                  if step.type not in ('RandomAffine', 'Brightness', 'Contrast')]
train_pipeline.insert(-1, dict(type='RandomFlip', prob=0.5))  # before PackDetInputs
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
