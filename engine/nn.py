"""`tf.nn`: activations, softmax and cross-entropies, dropout, convolution and pooling."""

from engine.ops.conv_ops import *
from engine.ops.nn_ops import *
