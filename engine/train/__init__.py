"""`tf.train`: optimizers, learning-rate schedules, the global step and checkpoints (Saver)."""

from engine.train.learning_rate_decay import (
    cosine_decay,
    exponential_decay,
    inverse_time_decay,
    natural_exp_decay,
    piecewise_constant,
    polynomial_decay,
)
from engine.train.optimizers import (
    AdadeltaOptimizer,
    AdagradOptimizer,
    AdamOptimizer,
    FtrlOptimizer,
    GradientDescentOptimizer,
    MomentumOptimizer,
    Optimizer,
    RMSPropOptimizer,
)
from engine.train.saver import Saver, latest_checkpoint
from engine.train.training_util import (
    create_global_step,
    get_global_step,
    get_or_create_global_step,
    global_step,
)

__all__ = [
    "AdadeltaOptimizer", "AdagradOptimizer", "AdamOptimizer", "FtrlOptimizer",
    "GradientDescentOptimizer", "MomentumOptimizer", "Optimizer", "RMSPropOptimizer", "Saver",
    "cosine_decay", "create_global_step", "exponential_decay", "get_global_step",
    "get_or_create_global_step", "global_step", "inverse_time_decay", "latest_checkpoint",
    "natural_exp_decay", "piecewise_constant", "polynomial_decay",
]
