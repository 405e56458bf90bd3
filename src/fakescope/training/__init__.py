"""Training: data splits, format-aligned sampling, aligned auto-encoder fakes, models, loops, ONNX export.

The only place in fakescope with losses and optimizers.  Needs the ``[train]`` extra
(torch, onnx); :mod:`.data`, :mod:`.augment` and :mod:`.evaluate` need only numpy and Pillow.
Nothing is imported here, so ``import fakescope.training.data`` does not pull in torch.
"""
