"""`tf.contrib`: the parts of TF 1.x's contrib that kumo users' code still imports."""

from engine import rnn
from engine.contrib import layers, learn

__all__ = ["layers", "learn", "rnn"]
