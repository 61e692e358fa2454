"""Shape manipulation, indexing and construction ops: numpy parity, static shapes, gradients."""

from collections.abc import Callable

import numpy as np
import pytest

import engine as tf
from tests.engine.gradcheck import check_gradients

RNG = np.random.default_rng(7)


def _data(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


def _run(build: Callable[[tf.Tensor], tf.Tensor], value: np.ndarray,
         static: tuple[int | None, ...] | None = None) -> tuple[tf.Tensor, np.ndarray]:
    """Build on a placeholder of shape `static` (default: all dims unknown), feed `value`."""
    x = tf.placeholder(tf.float64, static if static is not None else (None,) * value.ndim)
    y = build(x)
    with tf.Session() as sess:
        return y, sess.run(y, {x: value})


# -- forward values match numpy, with dims unknown until run time --------------------------------
FORWARD = [
    ("reshape", lambda x: tf.reshape(x, [3, -1]), lambda v: v.reshape(3, -1), (2, 3, 2)),
    ("reshape_dynamic", lambda x: tf.reshape(x, [tf.shape(x)[0], -1]),
     lambda v: v.reshape(len(v), -1), (4, 2, 3)),
    ("transpose", lambda x: tf.transpose(x, [2, 0, 1]), lambda v: v.transpose(2, 0, 1),
     (2, 3, 4)),
    ("transpose_default", tf.transpose, np.transpose, (2, 3, 4)),
    ("expand_dims", lambda x: tf.expand_dims(x, -1), lambda v: v[..., None], (2, 3)),
    ("expand_dims_dim", lambda x: tf.expand_dims(x, dim=1), lambda v: v[:, None], (2, 3)),
    ("squeeze_axis", lambda x: tf.squeeze(x, [0, 2]), lambda v: v.squeeze((0, 2)), (1, 3, 1)),
    ("squeeze_all", lambda x: tf.squeeze(x), np.squeeze, (1, 3, 1, 2)),
    ("concat", lambda x: tf.concat([x, 2 * x], 1), lambda v: np.concatenate([v, 2 * v], 1),
     (2, 3)),
    ("concat_negative_axis", lambda x: tf.concat([x, x], -1),
     lambda v: np.concatenate([v, v], -1), (2, 3)),
    ("stack", lambda x: tf.stack([x, -x], axis=1), lambda v: np.stack([v, -v], 1), (2, 3)),
    ("unstack", lambda x: tf.unstack(x, num=3, axis=1)[2], lambda v: v[:, 2], (2, 3)),
    ("split_num", lambda x: tf.split(x, 2, axis=1)[1], lambda v: np.split(v, 2, 1)[1], (3, 4)),
    ("split_sizes", lambda x: tf.split(x, [1, -1, 2], 1)[1], lambda v: v[:, 1:4], (2, 6)),
    ("tile", lambda x: tf.tile(x, [2, 3]), lambda v: np.tile(v, (2, 3)), (2, 3)),
    ("slice_steps", lambda x: x[::-1, 1::2], lambda v: v[::-1, 1::2], (4, 5)),
    ("slice_int_newaxis", lambda x: x[1, tf.newaxis, ..., -1], lambda v: v[1, None, ..., -1],
     (3, 4, 5)),
    ("slice_negative_bounds", lambda x: x[-1:0:-2, :-1], lambda v: v[-1:0:-2, :-1], (6, 3)),
    ("slice_tensor_index", lambda x: x[:, tf.constant(2)], lambda v: v[:, 2], (3, 4)),
    ("tf_slice", lambda x: tf.slice(x, [1, 0], [2, -1]), lambda v: v[1:3, :], (4, 3)),
    ("strided_slice", lambda x: tf.strided_slice(x, [0, 3], [0, 0], [1, -1], begin_mask=1,
                                                  end_mask=3),
     lambda v: v[:, 3::-1], (2, 5)),
    ("gather", lambda x: tf.gather(x, [2, 0, 2]), lambda v: v[[2, 0, 2]], (3, 4)),
    ("gather_axis", lambda x: tf.gather(x, [[1, 1], [0, 2]], axis=1),
     lambda v: np.take(v, [[1, 1], [0, 2]], axis=1), (2, 3)),
    ("gather_nd_elements", lambda x: tf.gather_nd(x, [[1, 2], [0, 0], [1, 2]]),
     lambda v: v[[1, 0, 1], [2, 0, 2]], (2, 3)),
    ("gather_nd_slices", lambda x: tf.gather_nd(x, [[[1], [0]]]), lambda v: v[[[1, 0]]],
     (2, 3, 2)),
    ("gather_nd_batched", lambda x: tf.gather_nd(x, [[[0, 1, 1]], [[1, 0, 0]]]),
     lambda v: v[[[0], [1]], [[1], [0]], [[1], [0]]], (2, 2, 2)),
    ("pad", lambda x: tf.pad(x, [[1, 2], [0, 1]], constant_values=3.0),
     lambda v: np.pad(v, [[1, 2], [0, 1]], constant_values=3.0), (2, 3)),
    ("reverse", lambda x: tf.reverse(x, [0, -1]), lambda v: v[::-1, ::-1], (2, 3)),
    ("broadcast_to", lambda x: tf.broadcast_to(x, [4, 2, 3]),
     lambda v: np.broadcast_to(v, (4, 2, 3)), (2, 1)),
    ("zeros_like_dtype", lambda x: tf.zeros_like(x, dtype=tf.int32),
     lambda v: np.zeros(v.shape, np.int32), (2, 3)),
    ("ones_like", tf.ones_like, np.ones_like, (3,)),
    ("fill_runtime_shape", lambda x: tf.fill(tf.shape(x), 2.5),
     lambda v: np.full(v.shape, 2.5, np.float32), (2, 3)),
    ("shape", tf.shape, lambda v: np.array(v.shape, np.int32), (2, 3, 4)),
    ("size", tf.size, lambda v: np.int32(v.size), (2, 3, 4)),
    ("rank", tf.rank, lambda v: np.int32(v.ndim), (2, 3, 4)),
]


@pytest.mark.parametrize(("build", "reference", "shape"), [c[1:] for c in FORWARD],
                         ids=[c[0] for c in FORWARD])
def test_forward_matches_numpy_with_unknown_dims(build: Callable, reference: Callable,
                                                 shape: tuple[int, ...]) -> None:
    value = _data(*shape)
    y, got = _run(build, value)
    want = reference(value)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want)
    assert tf.TensorShape(want.shape).is_compatible_with(y.shape)


@pytest.mark.parametrize(("build", "reference", "shape"), [c[1:] for c in FORWARD],
                         ids=[c[0] for c in FORWARD])
def test_static_shape_is_exact_when_inputs_are_known(build: Callable, reference: Callable,
                                                     shape: tuple[int, ...]) -> None:
    value = _data(*shape)
    y, got = _run(build, value, static=shape)
    assert y.shape == tf.TensorShape(reference(value).shape)
    np.testing.assert_allclose(got, reference(value))


def test_static_shapes_with_unknown_dims() -> None:
    x = tf.placeholder(tf.float32, [None, 4, 6])
    assert tf.reshape(x, [-1, 24]).shape.as_list() == [None, 24]
    assert tf.reshape(x, [2, 2, -1]).shape.as_list() == [2, 2, None]
    assert tf.reshape(x, tf.stack([tf.shape(x)[0], 24])).shape.as_list() == [None, 24]
    assert tf.transpose(x).shape.as_list() == [6, 4, None]
    assert tf.concat([x, x], 2).shape.as_list() == [None, 4, 12]
    assert tf.concat([x, x], 0).shape.as_list() == [None, 4, 6]
    assert [t.shape.as_list() for t in tf.split(x, [1, -1], 2)] == [[None, 4, 1], [None, 4, 5]]
    assert x[:, 1:3, ::-2].shape.as_list() == [None, 2, 3]
    assert x[:3].shape.as_list() == [None, 4, 6]
    assert x[0, ..., tf.newaxis].shape.as_list() == [4, 6, 1]
    assert tf.tile(x, [2, 1, 2]).shape.as_list() == [None, 4, 12]
    assert tf.gather(x, tf.placeholder(tf.int32, [5]), axis=2).shape.as_list() == [None, 4, 5]
    assert tf.one_hot(tf.placeholder(tf.int32, [None]), 3, axis=0).shape.as_list() == [3, None]
    assert tf.pad(x, [[0, 0], [1, 1], [2, 0]]).shape.as_list() == [None, 6, 8]
    assert tf.shape(x).shape.as_list() == [3]
    assert tf.zeros(tf.shape(x)).shape.as_list() == [None, 4, 6]
    assert tf.squeeze(tf.placeholder(tf.float32, [None, 1])).shape.ndims is None
    assert tf.reshape(x, tf.placeholder(tf.int32, [2])).shape.as_list() == [None, None]


@pytest.mark.parametrize(("build", "message"), [
    (lambda x: tf.reshape(x, [4, 2]),
     "Cannot reshape a tensor with 6 elements to shape [4,2] (8 elements) for 'Reshape' "
     "(op: 'Reshape') with input shapes: [2,3], [2]."),
    (lambda x: tf.reshape(x, [4, -1]), "evenly divisible by 4 but is 6"),
    (lambda x: tf.reshape(x, [-1, -1]), "Only one input size may be -1"),
    (lambda x: tf.transpose(x, [0, 2]), "is not a permutation"),
    (lambda x: tf.transpose(x, [0]), "Dimension must be 2 but is 1"),
    (lambda x: tf.expand_dims(x, 3), "Expected axis in the range [-3, 3)"),
    (lambda x: tf.squeeze(x, [1]), "Can not squeeze dim[1], expected a dimension of 1, got 3"),
    (lambda x: tf.concat([x, tf.zeros([3, 3])], 1), "Dimension 0 in both shapes must be equal"),
    (lambda x: tf.concat([x, tf.zeros([2])], 0), "Shape must be rank 2 but is rank 1"),
    (lambda x: tf.stack([x, tf.zeros([3, 2])]), "not compatible"),
    (lambda x: tf.split(x, 2, axis=1), "evenly divisible by 2 but is 3"),
    (lambda x: tf.split(x, [1, 1], axis=1), "Determined shape must either match"),
    (lambda x: tf.unstack(x, num=3), "Dimension 0 has size 2, not num = 3"),
    (lambda x: tf.tile(x, [2]), "vector of length 2 but got length 1"),
    (lambda x: x[2], "slice index 2 of dimension 0 out of bounds"),
    (lambda x: x[0, 0, 0], "Index out of range using input dim 2"),
    (lambda x: x[::0], "strides[0] must be non-zero"),
    (lambda x: tf.slice(x, [1, 0], [2, 1]), "Expected size[0] in [0, 1], but got 2"),
    (lambda x: tf.gather(x, [0], axis=2), "Expected axis in the range [-2, 2)"),
    (lambda x: tf.pad(x, [[1, 1]]), "paddings must be a matrix"),
    (lambda x: tf.broadcast_to(x, [2, 2]), "Incompatible shapes: [2,3] vs. [2,2]"),
    (lambda x: tf.fill([2, -1], 1.0), "Dimension -1 must be >= 0"),
    (lambda x: tf.range(3, 1), "Requires start <= limit when delta > 0"),
])
def test_build_time_shape_errors(build: Callable, message: str) -> None:
    x = tf.placeholder(tf.float32, [2, 3])
    with pytest.raises(ValueError) as info:
        build(x)
    assert message in str(info.value)


def test_runtime_shape_errors_are_invalid_argument() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    with tf.Session() as sess:
        for y in (tf.reshape(x, [4, 2]), tf.split(x, [1, 1], 0)[0], x[5],
                  tf.slice(x, [2, 0], [2, 3]), tf.unstack(x, num=2)[0]):
            with pytest.raises(tf.errors.InvalidArgumentError):
                sess.run(y, {x: np.zeros((3, 3))})


def test_index_type_errors() -> None:
    x = tf.placeholder(tf.float32, [2, 3])
    with pytest.raises(TypeError, match="are valid indices"):
        _ = x[[0, 1]]
    with pytest.raises(TypeError, match="parameter 'shape'"):
        tf.reshape(x, tf.constant([3.0, 2.0]))


# -- gradients -------------------------------------------------------------------------------------
GRADIENTS = [
    ("reshape", lambda x: tf.reshape(x, [3, -1]), [(2, 3, 2)]),
    ("transpose", lambda x: tf.transpose(x, [1, 2, 0]), [(2, 3, 2)]),
    ("transpose_default", tf.transpose, [(2, 3)]),
    ("expand_dims", lambda x: tf.expand_dims(x, 1), [(2, 3)]),
    ("squeeze", lambda x: tf.squeeze(x, [1]), [(2, 1, 3)]),
    ("concat", lambda a, b: tf.concat([a, b], 1), [(2, 2), (2, 3)]),
    ("stack", lambda a, b: tf.stack([a, b], axis=1), [(2, 3), (2, 3)]),
    ("unstack_partly_used", lambda x: tf.unstack(x, axis=1)[1] * 3.0, [(2, 3)]),
    ("split_partly_used", lambda x: tf.split(x, [1, 2, -1], 0)[1], [(5, 2)]),
    ("tile", lambda x: tf.tile(x, [2, 3]), [(2, 3)]),
    ("slice_negative_step", lambda x: x[::-2, 1:, tf.newaxis], [(5, 3)]),
    ("slice_shrink_ellipsis", lambda x: x[..., 1] + x[0], [(3, 3)]),
    ("tf_slice", lambda x: tf.slice(x, [1, 1], [2, -1]), [(3, 4)]),
    ("gather_repeated", lambda x: tf.gather(x, [[1, 0], [1, 1]]), [(3, 2)]),
    ("gather_axis", lambda x: tf.gather(x, [2, 2, 0], axis=1), [(2, 3)]),
    ("gather_nd_repeated", lambda x: tf.gather_nd(x, [[1, 2], [1, 2], [0, 1]]), [(2, 3)]),
    ("gather_nd_slices", lambda x: tf.gather_nd(x, [[[2], [0]], [[2], [2]]]), [(3, 2, 2)]),
    ("boolean_mask", lambda x: tf.boolean_mask(x, [True, False, True]), [(3, 2)]),
    ("boolean_mask_2d_axis", lambda x: tf.boolean_mask(x, [[True, False], [True, True]],
                                                       axis=1), [(2, 2, 2, 3)]),
    ("boolean_mask_negative_axis", lambda x: tf.boolean_mask(x, [False, True, True], axis=-1),
     [(2, 3)]),
    ("pad", lambda x: tf.pad(x, [[1, 0], [2, 1]]), [(2, 3)]),
    ("broadcast_to", lambda x: tf.broadcast_to(x, [2, 3, 4]), [(3, 1)]),
    ("reverse", lambda x: tf.reverse(x, [1]), [(2, 3)]),
    ("fill_value", lambda v: tf.fill([2, 3], v), [()]),
]


@pytest.mark.parametrize(("build", "shapes"), [c[1:] for c in GRADIENTS],
                         ids=[c[0] for c in GRADIENTS])
def test_gradients(build: Callable, shapes: list[tuple[int, ...]]) -> None:
    check_gradients(build, [_data(*s) for s in shapes])


def test_gradients_through_unknown_dims() -> None:
    """Gradient ops resolve shapes at run time when the forward pass only knew them then."""
    a = tf.placeholder(tf.float64, [None, 2])
    b = tf.placeholder(tf.float64, [None, 2])
    joined = tf.concat([a, b], 0)
    y = tf.reshape(joined, [-1]) * tf.range(0.0, 10.0, dtype=tf.float64)
    y = tf.tile(y[tf.newaxis, ::2], [2, 1])
    ga, gb = tf.gradients(y, [a, b])
    with tf.Session() as sess:
        got_a, got_b = sess.run([ga, gb], {a: np.ones((2, 2)), b: np.ones((3, 2))})
    weights = np.arange(10.0).reshape(5, 2) * 2 * (np.arange(10).reshape(5, 2) % 2 == 0)
    np.testing.assert_allclose(got_a, weights[:2])
    np.testing.assert_allclose(got_b, weights[2:])


def test_second_order_gradient_of_slicing() -> None:
    x = tf.placeholder(tf.float64, [4])
    y = x[1:3] * x[1:3]
    (g,) = tf.gradients(y, [x])
    (gg,) = tf.gradients(g * tf.constant([1.0, 2.0, 3.0, 4.0], tf.float64), [x])
    with tf.Session() as sess:
        np.testing.assert_allclose(sess.run(gg, {x: np.ones(4)}), [0, 4, 6, 0])


# -- construction ----------------------------------------------------------------------------------
def test_zeros_ones_fill_accept_lists_shapes_and_tensors() -> None:
    n = tf.placeholder(tf.int32, [])
    cases = [
        (tf.zeros([2, 3]), np.zeros((2, 3), np.float32)),
        (tf.ones(tf.TensorShape([2]), dtype=tf.int64), np.ones(2, np.int64)),
        (tf.zeros((0, 2)), np.zeros((0, 2), np.float32)),
        (tf.ones([n, 2], dtype=tf.float64), np.ones((3, 2))),
        (tf.fill([2], 7), np.full(2, 7, np.int32)),
        (tf.ones_like(tf.constant([1, 2]), dtype=tf.float32), np.ones(2, np.float32)),
    ]
    with tf.Session() as sess:
        for t, want in cases:
            got = sess.run(t, {n: 3})
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)


def test_one_hot() -> None:
    indices = tf.placeholder(tf.int32, [None])
    with tf.Session() as sess:
        got = sess.run(tf.one_hot(indices, 4), {indices: [0, 3, -1, 4]})
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, np.eye(5, 4)[[0, 3, 4, 4]])
        got = sess.run(tf.one_hot(indices, 3, on_value=5, off_value=-1, axis=0),
                       {indices: [2, 0]})
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, [[-1, 5], [-1, -1], [5, -1]])


def test_range_and_linspace() -> None:
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(tf.range(5)), np.arange(5))
        np.testing.assert_allclose(sess.run(tf.range(1.0, 2.0, 0.3)), np.arange(1, 2, 0.3),
                                   rtol=1e-6)
        np.testing.assert_array_equal(sess.run(tf.range(5, 0, -2)), [5, 3, 1])
        assert tf.range(4, dtype=tf.float64).dtype == tf.float64
        limit = tf.placeholder(tf.int32, [])
        r = tf.range(limit)
        assert r.shape.as_list() == [None]
        np.testing.assert_array_equal(sess.run(r, {limit: 3}), [0, 1, 2])
        np.testing.assert_allclose(sess.run(tf.linspace(0.0, 1.0, 5)), np.linspace(0, 1, 5))


def test_shape_ops_fold_when_static_and_run_when_not() -> None:
    from engine.ops.array_ops import constant_value

    known = tf.zeros([2, 5])
    assert constant_value(tf.shape(known)).tolist() == [2, 5]
    assert constant_value(tf.shape(known)[1]) == 5
    x = tf.placeholder(tf.float32, [None, 5])
    assert constant_value(tf.shape(x)) is None
    assert constant_value(tf.rank(x)) == 2
    with tf.Session() as sess:
        s, n = sess.run([tf.shape(x, out_type=tf.int64), tf.size(x)], {x: np.zeros((3, 5))})
    assert s.dtype == np.int64 and s.tolist() == [3, 5] and n == 15


def test_split_returns_list_and_single_piece() -> None:
    x = tf.constant(np.arange(6.0).reshape(2, 3))
    (whole,) = tf.split(x, 1, axis=1)
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(whole), np.arange(6.0).reshape(2, 3))


# -- gather_nd and boolean_mask --------------------------------------------------------------------
def test_gather_nd_static_shapes() -> None:
    params = tf.placeholder(tf.float32, [None, 4, 5])
    assert tf.gather_nd(params, tf.placeholder(tf.int32, [7, 2])).shape.as_list() == [7, 5]
    assert tf.gather_nd(params, tf.placeholder(tf.int64, [None, 3, 3])).shape.as_list() == [
        None, 3]
    assert tf.gather_nd(params, tf.placeholder(tf.int32, [2, None])).shape.ndims is None


def test_gather_nd_gradient_scatter_adds_and_is_differentiable() -> None:
    x = tf.placeholder(tf.float64, [3, 2])
    y = tf.gather_nd(x, [[2], [0], [2]]) * tf.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
                                                       tf.float64)
    (g,) = tf.gradients(y, [x])
    (gg,) = tf.gradients(g * tf.constant([[1.0, 0.0], [0.0, 0.0], [2.0, 1.0]], tf.float64),
                         [x])
    with tf.Session() as sess:
        got = sess.run(g, {x: np.ones((3, 2))})
    np.testing.assert_array_equal(got, [[3, 4], [0, 0], [6, 8]])
    assert gg is None  # g does not depend on x: the second gradient goes through dy only


def test_boolean_mask_forward_and_static_shape() -> None:
    x = tf.placeholder(tf.float64, [2, 3, 4])
    mask = tf.placeholder(tf.bool, [3, None])
    y = tf.boolean_mask(x, mask, axis=1)
    assert y.shape.as_list() == [2, None]
    assert tf.boolean_mask(x, [True, False]).shape.as_list() == [None, 3, 4]
    value = _data(2, 3, 4)
    picks = RNG.random((3, 4)) > 0.5
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(y, {x: value, mask: picks}), value[:, picks])
        with pytest.raises(tf.errors.InvalidArgumentError, match="does not match"):
            sess.run(y, {x: value, mask: np.ones((3, 2), bool)})


@pytest.mark.parametrize(("build", "error", "message"), [
    (lambda x: tf.gather_nd(x, [[0, 0, 0]]), ValueError, "indices.shape[-1] must be in [1, "),
    (lambda x: tf.gather_nd(x, 1), ValueError, "at least a vector"),
    (lambda x: tf.gather_nd(x, [[0.5]]), TypeError, "parameter 'indices'"),
    (lambda x: tf.boolean_mask(x, [1, 0]), TypeError, "parameter 'mask'"),
    (lambda x: tf.boolean_mask(x, [True, False, True]), ValueError, "are incompatible"),
    (lambda x: tf.boolean_mask(x, [[True]], axis=1), ValueError, "does not fit"),
    (lambda x: tf.boolean_mask(x, True), ValueError, "mask cannot be scalar"),
    (lambda x: tf.boolean_mask(x, tf.placeholder(tf.bool)), ValueError,
     "Number of mask dimensions must be specified"),
])
def test_gather_nd_and_boolean_mask_build_errors(build: Callable, error: type[Exception],
                                                 message: str) -> None:
    with pytest.raises(error) as info:
        build(tf.placeholder(tf.float32, [2, 3]))
    assert message in str(info.value)


def test_gather_nd_out_of_range_index_names_it() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    indices = tf.placeholder(tf.int32, [None, None])
    y = tf.gather_nd(x, indices)
    with tf.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"indices\[1\] = \[0, 3\] does not index into param shape "
                                 r"\[2,3\]"):
            sess.run(y, {x: np.zeros((2, 3)), indices: [[1, 2], [0, 3]]})
        with pytest.raises(tf.errors.InvalidArgumentError, match="last dimension"):
            sess.run(y, {x: np.zeros((2, 3)), indices: [[1, 2, 0]]})


def test_boolean_mask_negative_axis_with_unknown_rank_counts_from_the_end() -> None:
    """A negative axis the build could not resolve (rank unknown) is resolved per run; it
    used to be read as axis 0, silently masking the wrong dim of a square tensor."""
    x = tf.placeholder(tf.float64)
    mask = [True, False, True]
    y = tf.boolean_mask(x, mask, axis=-1)
    (g,) = tf.gradients(tf.reduce_sum(y * tf.constant([[1.0, 2.0]] * 3, tf.float64)), [x])
    value = _data(3, 3)
    with tf.Session() as sess:
        got, grad = sess.run([y, g], {x: value})
        np.testing.assert_array_equal(got, value[:, mask])
        np.testing.assert_array_equal(grad, [[1, 0, 2]] * 3)
        with pytest.raises(tf.errors.InvalidArgumentError, match="does not match"):
            sess.run(y, {x: np.zeros(2)})


@pytest.mark.parametrize(("forward", "shape"), [
    (lambda x: tf.gather_nd(x, [[1, 2], [1, 2], [0, 1]]), (2, 3)),
    (lambda x: tf.gather_nd(x, [[[2], [0]], [[2], [2]]]), (3, 2, 2)),
    (lambda x: tf.boolean_mask(x, [[True, False], [True, True]], axis=1), (2, 2, 2, 3)),
], ids=["gather_nd", "gather_nd_slices", "boolean_mask"])
def test_gradient_of_scatter_add_gradients(forward: Callable, shape: tuple[int, ...]) -> None:
    """GatherNdGrad and BooleanMaskGrad are differentiable in their upstream gradient (a
    second-order gradient, e.g. a gradient penalty, goes through it)."""
    x = _data(*shape)
    dy = _data(*_run(forward, x, shape)[1].shape)

    def backward(d: tf.Tensor) -> tf.Tensor:
        params = tf.constant(x)
        return tf.gradients(forward(params), [params], grad_ys=d)[0]

    check_gradients(backward, [dy])
