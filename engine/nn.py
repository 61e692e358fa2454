"""`tf.nn`: activations, softmax and cross-entropies, dropout, convolution and pooling, and
recurrent networks (`tf.nn.rnn_cell`, `dynamic_rnn`)."""

from engine import rnn as rnn_cell
from engine.ops.conv_ops import *
from engine.ops.nn_ops import *
from engine.rnn import bidirectional_dynamic_rnn, dynamic_rnn, static_rnn
