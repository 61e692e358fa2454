"""`tf.contrib.learn.io`: the numpy input function (the same one as tf.estimator.inputs)."""

from engine.estimator.inputs import numpy_input_fn

__all__ = ["numpy_input_fn"]
