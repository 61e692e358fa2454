"""kumo's dataflow graph engine, with TensorFlow 1.x's API: `import engine as tf`.

Build a graph of ops first, then run parts of it in a Session. numpy executes it; CuPy does
when ops are placed on '/gpu:N' and CuPy is installed.
"""

from engine import (
    app,
    contrib,
    data,
    errors,
    estimator,
    feature_column,
    gfile,
    initializers,
    keras,
    layers,
    losses,
    metrics,
    nn,
    saved_model,
    summary,
    train,
)
from engine import tf_logging as logging
from engine.backend import gpu_available
from engine.dtypes import (
    DType,
    as_dtype,
    bool,
    double,
    float16,
    float32,
    float64,
    half,
    int8,
    int16,
    int32,
    int64,
    string,
    uint8,
)
from engine.gradients import gradients
from engine.graph import (
    Graph,
    GraphKeys,
    Operation,
    Tensor,
    convert_to_tensor,
    get_default_graph,
    reset_default_graph,
)
from engine.initializers import *
from engine.ops import logging_ops as debugging
from engine.ops.array_ops import *
from engine.ops.clip_ops import *
from engine.ops.control_flow_ops import *
from engine.ops.functional_ops import *
from engine.ops.linalg_ops import *
from engine.ops.logging_ops import *
from engine.ops.math_ops import *
from engine.ops.nn_ops import sigmoid, tanh
from engine.ops.parsing_ops import *
from engine.ops.random_ops import *
from engine.ops.reduction_ops import *
from engine.ops.script_ops import *
from engine.ops.state_ops import *
from engine.session import InteractiveSession, Session, get_default_session
from engine.session_options import ConfigProto, GPUOptions, RunMetadata, RunOptions
from engine.shapes import Dimension, TensorShape
from engine.variable_scope import (
    AUTO_REUSE,
    VariableScope,
    get_variable,
    get_variable_scope,
    variable_scope,
)
from engine.variables import (
    Variable,
    all_variables,
    global_variables,
    global_variables_initializer,
    initialize_all_variables,
    local_variables,
    local_variables_initializer,
    trainable_variables,
    variables_initializer,
)

__version__ = "0.1.0"

flags = app.flags  # `tf.flags`, as `tf.app.flags`


def name_scope(name: str | None, default_name: str | None = None, values: object = None):
    """`with tf.name_scope('layer1'):` on the default graph (or the graph of `values`)."""
    return get_default_graph().name_scope(name if name is not None else default_name)


def device(device_name: str | None):
    """`with tf.device('/gpu:0'):` places the ops created inside on that device."""
    return get_default_graph().device(device_name)


def set_random_seed(seed: int) -> None:
    """Graph-level seed: random ops give the same sequence in every new Session."""
    get_default_graph().seed = seed


def get_collection(key: str, scope: str | None = None) -> list:
    return get_default_graph().get_collection(key, scope)


def add_to_collection(name: str, value: object) -> None:
    get_default_graph().add_to_collection(name, value)


