"""`tf.contrib.learn.datasets`: reading the CSV files of TF's tutorials."""

from engine.contrib.learn.datasets import base
from engine.contrib.learn.datasets.base import Dataset, Datasets

__all__ = ["Dataset", "Datasets", "base"]
