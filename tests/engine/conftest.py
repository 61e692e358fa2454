"""Each engine test builds in its own default graph, so names and collections never leak."""

from collections.abc import Iterator

import pytest

import engine as tf


@pytest.fixture(autouse=True)
def fresh_graph() -> Iterator[tf.Graph]:
    graph = tf.Graph()
    with graph.as_default():
        yield graph
