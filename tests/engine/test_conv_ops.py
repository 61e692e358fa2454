"""conv2d, max_pool and avg_pool against direct loop-based references, with gradient checks."""

from __future__ import annotations

import numpy as np
import pytest

import engine as tf
from engine.ops import conv_ops
from tests.engine.gradcheck import check_gradients

# (input height, input width, kernel, stride, padding, dilation): odd sizes, both paddings,
# strides 1..3, kernels larger than the stride (overlapping windows) and not.
GEOMETRIES = [
    (7, 7, 3, 2, "SAME", 1),
    (7, 7, 3, 2, "VALID", 1),
    (6, 5, 3, 1, "SAME", 1),
    (5, 5, 2, 2, "SAME", 1),
    (8, 7, 2, 3, "VALID", 1),
    (4, 4, 1, 1, "VALID", 1),
    (7, 6, 3, 1, "SAME", 2),
]


def _window(size: int, k: int, stride: int, dilation: int, padding: str) -> tuple[int, int]:
    """Output size and padding before, written out from TF's documentation."""
    span = (k - 1) * dilation + 1
    if padding == "VALID":
        return int(np.ceil((size - span + 1) / stride)), 0
    out = int(np.ceil(size / stride))
    return out, max((out - 1) * stride + span - size, 0) // 2


def _positions(size: int, k: int, stride: int, dilation: int,
               padding: str) -> list[list[int | None]]:
    """Per output index, the input index under each kernel tap (None = padding)."""
    out, before = _window(size, k, stride, dilation, padding)
    taps = []
    for o in range(out):
        row = [o * stride + t * dilation - before for t in range(k)]
        taps.append([p if 0 <= p < size else None for p in row])
    return taps


def reference_conv(x: np.ndarray, w: np.ndarray, stride: int, padding: str,
                   dilation: int = 1) -> np.ndarray:
    n, h, wd, _ = x.shape
    kh, kw, _, o = w.shape
    rows = _positions(h, kh, stride, dilation, padding)
    cols = _positions(wd, kw, stride, dilation, padding)
    y = np.zeros((n, len(rows), len(cols), o))
    for a, row in enumerate(rows):
        for b, col in enumerate(cols):
            for i, r in enumerate(row):
                for j, c in enumerate(col):
                    if r is not None and c is not None:
                        y[:, a, b, :] += x[:, r, c, :] @ w[i, j]
    return y


def reference_pool(x: np.ndarray, k: int, stride: int, padding: str, kind: str) -> np.ndarray:
    """Max, or mean over in-bounds elements only (TF's SAME avg_pool)."""
    rows = _positions(x.shape[1], k, stride, 1, padding)
    cols = _positions(x.shape[2], k, stride, 1, padding)
    y = np.zeros((x.shape[0], len(rows), len(cols), x.shape[3]))
    for a, row in enumerate(rows):
        for b, col in enumerate(cols):
            inside_rows = [r for r in row if r is not None]
            inside_cols = [c for c in col if c is not None]
            flat = x[:, inside_rows][:, :, inside_cols].reshape(x.shape[0], -1, x.shape[3])
            y[:, a, b] = flat.max(axis=1) if kind == "max" else flat.mean(axis=1)
    return y


def distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random values at least 1e-2 apart, so max_pool has no ties within eps of gradcheck."""
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 1e-2 - 1.0


def run(t: tf.Tensor, feed: dict | None = None) -> np.ndarray:
    with tf.Session() as sess:
        return sess.run(t, feed)


@pytest.mark.parametrize(("h", "w", "k", "s", "padding", "d"), GEOMETRIES)
def test_conv2d_matches_reference(h: int, w: int, k: int, s: int, padding: str, d: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, h, w, 3))
    f = rng.standard_normal((k, k, 3, 4))
    y = tf.nn.conv2d(x, f, strides=[1, s, s, 1], padding=padding, dilations=[1, d, d, 1])
    want = reference_conv(x, f, s, padding, d)
    assert y.shape.as_list() == list(want.shape)
    np.testing.assert_allclose(run(y), want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(("h", "w", "k", "s", "padding", "d"), GEOMETRIES)
def test_conv2d_gradients(h: int, w: int, k: int, s: int, padding: str, d: int) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, h, w, 2))
    f = rng.standard_normal((k, k, 2, 3))
    check_gradients(lambda a, b: tf.nn.conv2d(a, b, [1, s, s, 1], padding,
                                              dilations=[1, d, d, 1]), [x, f])


def test_conv2d_second_order_gradients() -> None:
    """The backprop ops are differentiable too (linear in the filter and the output grad)."""
    rng = np.random.default_rng(2)
    x_value, f_value = rng.standard_normal((2, 5, 5, 2)), rng.standard_normal((3, 3, 2, 3))
    strides = [1, 2, 2, 1]

    def input_grad(w: tf.Tensor, dy: tf.Tensor) -> tf.Tensor:
        x = tf.constant(x_value)
        return tf.gradients(tf.nn.conv2d(x, w, strides, "SAME"), x, grad_ys=dy)[0]

    def filter_grad(x: tf.Tensor, dy: tf.Tensor) -> tf.Tensor:
        f = tf.constant(f_value)
        return tf.gradients(tf.nn.conv2d(x, f, strides, "SAME"), f, grad_ys=dy)[0]

    dy_value = rng.standard_normal((2, 3, 3, 3))
    check_gradients(input_grad, [f_value, dy_value])
    check_gradients(filter_grad, [x_value, dy_value])


# The spectral path (stride 1 only) on the reference geometries plus even/odd mixes and kernels
# wider than the input's padding; forced on, since at these sizes "auto" picks im2col.
SPECTRAL_GEOMETRIES = [g for g in GEOMETRIES if g[3] == 1] + [
    (9, 8, 4, 1, "SAME", 1),
    (9, 8, 4, 1, "VALID", 2),
    (5, 7, 5, 1, "SAME", 1),
    (3, 3, 5, 1, "SAME", 1),
]


@pytest.fixture
def spectral(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conv_ops, "SPECTRAL", "always")


@pytest.mark.parametrize(("h", "w", "k", "s", "padding", "d"), SPECTRAL_GEOMETRIES)
def test_spectral_conv2d_matches_reference(spectral: None, h: int, w: int, k: int, s: int,
                                           padding: str, d: int) -> None:
    rng = np.random.default_rng(5)
    x, f = rng.standard_normal((2, h, w, 3)), rng.standard_normal((k, k, 3, 4))
    y = tf.nn.conv2d(x, f, strides=[1, s, s, 1], padding=padding, dilations=[1, d, d, 1])
    np.testing.assert_allclose(run(y), reference_conv(x, f, s, padding, d), rtol=1e-10,
                               atol=1e-10)


@pytest.mark.parametrize(("h", "w", "k", "s", "padding", "d"), SPECTRAL_GEOMETRIES)
def test_spectral_conv2d_gradients(spectral: None, h: int, w: int, k: int, s: int, padding: str,
                                   d: int) -> None:
    rng = np.random.default_rng(6)
    x, f = rng.standard_normal((2, h, w, 2)), rng.standard_normal((k, k, 2, 3))
    check_gradients(lambda a, b: tf.nn.conv2d(a, b, [1, s, s, 1], padding,
                                              dilations=[1, d, d, 1]), [x, f])


def test_spectral_second_order_gradients(spectral: None) -> None:
    rng = np.random.default_rng(7)
    x_value, f_value = rng.standard_normal((2, 6, 5, 2)), rng.standard_normal((3, 3, 2, 3))
    dy_value = rng.standard_normal((2, 6, 5, 3))

    def input_grad(w: tf.Tensor, dy: tf.Tensor) -> tf.Tensor:
        x = tf.constant(x_value)
        return tf.gradients(tf.nn.conv2d(x, w, [1, 1, 1, 1], "SAME"), x, grad_ys=dy)[0]

    def filter_grad(x: tf.Tensor, dy: tf.Tensor) -> tf.Tensor:
        f = tf.constant(f_value)
        return tf.gradients(tf.nn.conv2d(x, f, [1, 1, 1, 1], "SAME"), f, grad_ys=dy)[0]

    check_gradients(input_grad, [f_value, dy_value])
    check_gradients(filter_grad, [x_value, dy_value])


def test_spectral_path_is_chosen_for_large_stride1_convolutions() -> None:
    """Deep MNIST's layer 2 (5x5x32x64 on 14x14) goes spectral; its 1-channel layer 1, strided
    and 1x1 convolutions, integer-free float16 and CuPy arrays stay on im2col."""
    use = conv_ops._use_spectral
    assert use(np, (50, 14, 14, 32), (5, 5, 32, 64), np.float32, (1, 1), (1, 1), "SAME")
    assert not use(np, (50, 28, 28, 1), (5, 5, 1, 32), np.float32, (1, 1), (1, 1), "SAME")
    assert not use(np, (50, 14, 14, 32), (5, 5, 32, 64), np.float32, (2, 2), (1, 1), "SAME")
    assert not use(np, (50, 14, 14, 32), (1, 1, 32, 64), np.float32, (1, 1), (1, 1), "SAME")
    assert not use(np, (50, 14, 14, 32), (5, 5, 32, 64), np.float16, (1, 1), (1, 1), "SAME")


def test_spectral_float32_agrees_with_im2col(monkeypatch: pytest.MonkeyPatch) -> None:
    """At the benchmark's size, in float32, both paths give the same output and gradients."""
    rng = np.random.default_rng(8)
    x = tf.placeholder(tf.float32, [None, 14, 14, 32])
    w = tf.constant((rng.standard_normal((5, 5, 32, 64)) * 0.1).astype(np.float32))
    y = tf.nn.conv2d(x, w, [1, 1, 1, 1], "SAME")
    dy = tf.constant(rng.standard_normal((8, 14, 14, 64)).astype(np.float32))
    fetches = [y, *tf.gradients(y, [x, w], grad_ys=dy)]
    feed = {x: rng.standard_normal((8, 14, 14, 32)).astype(np.float32)}
    results = {}
    for mode in ("always", "never"):
        monkeypatch.setattr(conv_ops, "SPECTRAL", mode)
        with tf.Session() as sess:
            results[mode] = sess.run(fetches, feed)
    for got, want in zip(results["always"], results["never"], strict=True):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


@pytest.mark.parametrize(("h", "w", "k", "s", "padding", "_"), GEOMETRIES[:-1])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_matches_reference_and_gradients(h: int, w: int, k: int, s: int, padding: str,
                                              _: int, kind: str) -> None:
    pool = tf.nn.max_pool if kind == "max" else tf.nn.avg_pool
    x = distinct(np.random.default_rng(3), (2, h, w, 3))
    y = pool(x, ksize=[1, k, k, 1], strides=[1, s, s, 1], padding=padding)
    want = reference_pool(x, k, s, padding, kind)
    assert y.shape.as_list() == list(want.shape)
    np.testing.assert_allclose(run(y), want, rtol=1e-12, atol=1e-12)
    check_gradients(lambda a: pool(a, [1, k, k, 1], [1, s, s, 1], padding), [x])


def test_avg_pool_same_excludes_padding() -> None:
    """Every window of an all-ones image averages to exactly 1, padded or not."""
    y = tf.nn.avg_pool(np.ones((1, 5, 5, 2)), [1, 3, 3, 1], [1, 2, 2, 1], "SAME")
    np.testing.assert_array_equal(run(y), np.ones((1, 3, 3, 2)))


def test_max_pool_gradient_goes_to_first_maximum_on_ties() -> None:
    x = tf.constant(np.zeros((1, 4, 4, 1)))
    grad = tf.gradients(tf.nn.max_pool(x, [1, 2, 2, 1], [1, 2, 2, 1], "VALID"), x)[0]
    want = np.zeros((4, 4))
    want[::2, ::2] = 1.0
    np.testing.assert_array_equal(run(grad)[0, :, :, 0], want)


def test_max_pool_overlapping_windows_sum_their_gradients() -> None:
    value = np.zeros((1, 3, 3, 1))
    value[0, 1, 1, 0] = 5.0  # the maximum of all four 2x2 windows
    x = tf.constant(value)
    grad = tf.gradients(tf.nn.max_pool(x, [1, 2, 2, 1], [1, 1, 1, 1], "VALID"), x)[0]
    assert run(grad)[0, 1, 1, 0] == 4.0


def test_float32_and_unknown_batch() -> None:
    rng = np.random.default_rng(4)
    x = tf.placeholder(tf.float32, [None, 9, 9, 3])
    w = tf.constant(rng.standard_normal((3, 3, 3, 8)).astype(np.float32))
    y = tf.nn.max_pool(tf.nn.conv2d(x, w, [1, 1, 1, 1], "SAME"), [1, 2, 2, 1], [1, 2, 2, 1],
                       "SAME")
    assert y.shape.as_list() == [None, 5, 5, 8]
    grads = tf.gradients(y, [x, w])
    feed = {x: rng.standard_normal((4, 9, 9, 3)).astype(np.float32)}
    with tf.Session() as sess:
        out, gx, gw = sess.run([y, *grads], feed)
    assert out.dtype == gx.dtype == gw.dtype == np.float32
    assert out.shape == (4, 5, 5, 8) and gx.shape == (4, 9, 9, 3) and gw.shape == (3, 3, 3, 8)
    want = reference_pool(reference_conv(feed[x].astype(np.float64), run(w).astype(np.float64),
                                         1, "SAME"), 2, 2, "SAME", "max")
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("x_shape", "w_shape", "kwargs", "message"), [
    ((2, 5, 5), (3, 3, 3, 4), {}, "Shape must be rank 4 but is rank 3"),
    ((2, 5, 5, 3), (3, 3, 4, 4), {}, "Dimensions must be equal, but are 3 and 4 for 'Conv2D'"),
    ((2, 2, 2, 3), (3, 3, 3, 4), {"padding": "VALID"},
     "Negative dimension size caused by subtracting 3 from 2"),
    ((2, 5, 5, 3), (3, 3, 3, 4), {"strides": [1, 1, 1]}, "strides field must specify 4"),
    ((2, 5, 5, 3), (3, 3, 3, 4), {"strides": [2, 1, 1, 1]}, "batch and depth dimensions"),
    ((2, 5, 5, 3), (3, 3, 3, 4), {"padding": "same"}, "not in the list of allowed values"),
    ((2, 5, 5, 3), (3, 3, 3, 4), {"data_format": "NCHW"}, "NHWC"),
])
def test_conv2d_build_errors(x_shape: tuple, w_shape: tuple, kwargs: dict, message: str) -> None:
    args = {"strides": [1, 1, 1, 1], "padding": "SAME", **kwargs}
    x, w = tf.placeholder(tf.float32, x_shape), tf.placeholder(tf.float32, w_shape)
    with pytest.raises(ValueError, match=message):
        tf.nn.conv2d(x, w, **args)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"ksize": [1, 2, 2]}, "ksize field must specify 4"),
    ({"ksize": [2, 2, 2, 1]}, "batch and depth dimensions"),
    ({"strides": [1, 2, 2, 2]}, "batch and depth dimensions"),
    ({"padding": "FULL"}, "not in the list of allowed values"),
    ({"ksize": [1, 6, 6, 1], "padding": "VALID"}, "Negative dimension size"),
])
def test_pool_build_errors(kwargs: dict, message: str) -> None:
    args = {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1], "padding": "SAME", **kwargs}
    x = tf.placeholder(tf.float32, [1, 5, 5, 3])
    for pool in (tf.nn.max_pool, tf.nn.avg_pool):
        with pytest.raises(ValueError, match=message):
            pool(x, **args)


def test_integer_input_is_rejected() -> None:
    with pytest.raises(TypeError, match="int32"):
        tf.nn.max_pool(tf.placeholder(tf.int32, [1, 4, 4, 1]), [1, 2, 2, 1], [1, 2, 2, 1], "SAME")


# -- conv2d_transpose -----------------------------------------------------------------------------
# (output height, output width, kernel, stride, padding): odd sizes, both paddings, strides 1
# and 2 (and 3), kernels wider than the stride and not.
TRANSPOSE_GEOMETRIES = [
    (7, 7, 3, 2, "SAME"),
    (7, 5, 3, 2, "VALID"),
    (6, 5, 3, 1, "SAME"),
    (5, 7, 2, 1, "VALID"),
    (5, 5, 2, 2, "SAME"),
    (8, 7, 2, 3, "VALID"),
]


def _transpose_case(h: int, w: int, k: int, s: int, padding: str,
                    seed: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """A value of the shape conv2d gives for a [2, h, w, 2] input, and a [k, k, 2, 3] filter."""
    rng = np.random.default_rng(seed)
    f = rng.standard_normal((k, k, 2, 3))
    out_shape = [2, h, w, 2]
    value = rng.standard_normal(reference_conv(np.zeros(out_shape), f, s, padding).shape)
    return value, f, out_shape


@pytest.mark.parametrize(("h", "w", "k", "s", "padding"), TRANSPOSE_GEOMETRIES)
def test_conv2d_transpose_is_conv2d_input_gradient(h: int, w: int, k: int, s: int,
                                                   padding: str) -> None:
    """Forward values: conv2d's input gradient at `value`, and the adjoint of the reference
    convolution: <conv(x, f), value> == <x, conv2d_transpose(value, f)> for any x."""
    value, f, out_shape = _transpose_case(h, w, k, s, padding, 10)
    strides = [1, s, s, 1]
    y = tf.nn.conv2d_transpose(value, f, out_shape, strides, padding)
    assert y.shape.as_list() == out_shape and y.op.name == "conv2d_transpose"
    x = tf.constant(np.zeros(out_shape))
    want = tf.gradients(tf.nn.conv2d(x, f, strides, padding), x, grad_ys=value)[0]
    got, grad = run([y, want])
    np.testing.assert_allclose(got, grad, rtol=1e-12, atol=1e-12)
    probe = np.random.default_rng(11).standard_normal(out_shape)
    np.testing.assert_allclose(np.sum(got * probe),
                               np.sum(reference_conv(probe, f, s, padding) * value), rtol=1e-10)


@pytest.mark.parametrize(("h", "w", "k", "s", "padding"), TRANSPOSE_GEOMETRIES)
def test_conv2d_transpose_gradients(h: int, w: int, k: int, s: int, padding: str) -> None:
    value, f, out_shape = _transpose_case(h, w, k, s, padding, 12)
    check_gradients(lambda v, g: tf.nn.conv2d_transpose(v, g, out_shape, [1, s, s, 1], padding),
                    [value, f])


def test_conv2d_transpose_spectral_path(spectral: None) -> None:
    value, f, out_shape = _transpose_case(6, 5, 3, 1, "SAME", 13)
    y = tf.nn.conv2d_transpose(value, f, out_shape, [1, 1, 1, 1], "SAME")
    probe = np.random.default_rng(14).standard_normal(out_shape)
    np.testing.assert_allclose(np.sum(run(y) * probe),
                               np.sum(reference_conv(probe, f, 1, "SAME") * value), rtol=1e-10)


def test_conv2d_transpose_unknown_batch_and_run_time_shape_check() -> None:
    """output_shape may be built from tensors (a generator's batch size); a fed shape that
    does not fit value fails the run, naming the node."""
    value, f, _ = _transpose_case(7, 7, 3, 2, "SAME", 15)
    v = tf.placeholder(tf.float64, [None, 4, 4, 3])
    y = tf.nn.conv2d_transpose(v, f, tf.stack([tf.shape(v)[0], 7, 7, 2]), [1, 2, 2, 1])
    assert y.shape.as_list() == [None, 7, 7, 2]
    sizes = tf.placeholder(tf.int32, [4])
    fed = tf.nn.conv2d_transpose(v, f, sizes, [1, 2, 2, 1], name="up")
    assert fed.shape.as_list() == [None, None, None, None]
    with tf.Session() as sess:
        got = sess.run(y, {v: value})
        np.testing.assert_array_equal(sess.run(fed, {v: value, sizes: [2, 7, 7, 2]}), got)
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"out_backprop.*node up"):
            sess.run(fed, {v: value, sizes: [2, 9, 9, 2]})


@pytest.mark.parametrize(("value_shape", "filter_shape", "output_shape", "kwargs", "message"), [
    ((1, 4, 4, 5), (3, 3, 2, 3), [1, 7, 7, 2], {}, "input channels does not match filter's"),
    ((1, 4, 4, 3), (3, 3, 2, 3), [1, 7, 7, 4], {}, "output_shape does not match filter's"),
    ((1, 4, 4, 3), (3, 3, 2, 3), [1, 9, 9, 2], {}, "value has size 4 in dimension 1"),
    ((1, 4, 4, 3), (3, 3, 2, 3), [1, 7, 7], {}, "output_shape must be 4 ints"),
    ((1, 4, 4, 3), (3, 3, 2, 3), [1, 2, 2, 2], {"padding": "VALID"}, "smaller than the 3-wide"),
    ((4, 4, 3), (3, 3, 2, 3), [1, 7, 7, 2], {}, "value must be 4-dimensional"),
    ((1, 4, 4, 3), (3, 3, 2, 3), [1, 7, 7, 2], {"strides": [2, 2, 2, 1]}, "batch and depth"),
    ((1, 4, 4, 3), (3, 3, 2, 3), [1, 7, 7, 2], {"padding": "FULL"}, "allowed values"),
])
def test_conv2d_transpose_build_errors(value_shape: tuple, filter_shape: tuple,
                                       output_shape: list, kwargs: dict, message: str) -> None:
    args = {"strides": [1, 2, 2, 1], "padding": "SAME", **kwargs}
    value, f = tf.placeholder(tf.float32, value_shape), tf.placeholder(tf.float32, filter_shape)
    with pytest.raises(ValueError, match=message):
        tf.nn.conv2d_transpose(value, f, output_shape, **args)


def test_conv2d_transpose_dtype_errors() -> None:
    f = tf.placeholder(tf.float32, (3, 3, 2, 3))
    with pytest.raises(TypeError, match="float value and filter of one dtype"):
        tf.nn.conv2d_transpose(tf.placeholder(tf.float64, (1, 4, 4, 3)), f, [1, 7, 7, 2],
                               [1, 2, 2, 1])
    with pytest.raises(ValueError, match="output_shape must be 4 ints"):
        tf.nn.conv2d_transpose(tf.placeholder(tf.float32, (1, 4, 4, 3)), f, [1.0, 7, 7, 2],
                               [1, 2, 2, 1])
