"""Session options as TF scripts build them: `tf.ConfigProto`, `tf.GPUOptions`,
`tf.RunOptions`, `tf.RunMetadata`. The engine reads none of their fields (numpy and CuPy place
and schedule ops themselves); they exist so that scripts passing them run unchanged."""

from __future__ import annotations

from copy import deepcopy
from typing import Any, ClassVar

__all__ = ["ConfigProto", "GPUOptions", "RunMetadata", "RunOptions"]


class _Message:
    """A stand-in for a TF protocol-buffer message: its fields as attributes, with TF's
    defaults; unknown fields are refused as protobuf does. The engine reads none of them
    (numpy and CuPy place and schedule ops themselves); they exist so scripts that pass them
    run unchanged."""

    _FIELDS: ClassVar[dict[str, Any]] = {}
    __slots__ = ()

    def __init__(self, **fields: Any) -> None:
        for name in fields:
            if name not in self._FIELDS:
                raise ValueError(f'Protocol message {type(self).__name__} has no "{name}" '
                                 f"field.")
        for name, default in self._FIELDS.items():
            setattr(self, name, fields[name] if name in fields else deepcopy(default))

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._FIELDS)
        return f"{type(self).__name__}({fields})"


class GPUOptions(_Message):
    """`tf.GPUOptions(allow_growth=True, per_process_gpu_memory_fraction=0.5, ...)`."""

    _FIELDS: ClassVar[dict[str, Any]] = {
        "per_process_gpu_memory_fraction": 0.0, "allow_growth": False, "allocator_type": "",
        "deferred_deletion_bytes": 0, "visible_device_list": "",
        "polling_active_delay_usecs": 0, "polling_inactive_delay_msecs": 0,
        "force_gpu_compatible": False,
    }
    __slots__ = (*_FIELDS,)


class ConfigProto(_Message):
    """`tf.ConfigProto(allow_soft_placement=True, gpu_options=tf.GPUOptions(...), ...)`;
    `config.gpu_options.allow_growth = True` works on a fresh one too."""

    _FIELDS: ClassVar[dict[str, Any]] = {
        "device_count": {}, "intra_op_parallelism_threads": 0,
        "inter_op_parallelism_threads": 0, "use_per_session_threads": False,
        "placement_period": 0, "device_filters": [], "gpu_options": GPUOptions(),
        "allow_soft_placement": False, "log_device_placement": False,
        "operation_timeout_in_ms": 0, "isolate_session_state": False,
    }
    __slots__ = (*_FIELDS,)


class RunOptions(_Message):
    """`tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE)` for `Session.run(options=...)`."""

    NO_TRACE, SOFTWARE_TRACE, HARDWARE_TRACE, FULL_TRACE = 0, 1, 2, 3
    _FIELDS: ClassVar[dict[str, Any]] = {
        "trace_level": 0, "timeout_in_ms": 0, "inter_op_thread_pool": 0,
        "output_partition_graphs": False, "report_tensor_allocations_upon_oom": False,
    }
    __slots__ = (*_FIELDS,)


class RunMetadata(_Message):
    """`Session.run(run_metadata=...)` accepts one; the engine records no traces in it."""

    _FIELDS: ClassVar[dict[str, Any]] = {
        "step_stats": None, "cost_graph": None, "partition_graphs": [],
    }
    __slots__ = (*_FIELDS,)
