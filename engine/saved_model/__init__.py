"""Servable snapshots (`tf.saved_model`): export a trained graph, load it for prediction.

    path = tf.saved_model.save(sess, "export/1", inputs={"x": x}, outputs={"probs": probs},
                               metadata={"head": "classification", "classes": ["a", "b"]})
    predictor = tf.saved_model.load(path)          # or any store with read_bytes(name)
    predictor.predict({"x": batch})["probs"]

A snapshot is a directory (or object-store prefix) with `model.json` (the pruned, frozen graph:
nodes, attrs, dtypes, shapes, signatures, metadata) and `variables.safetensors` (or
`variables.npz`). Loading validates everything against a schema and an op allow-list and never
executes, imports or unpickles anything from the files; failures raise `SnapshotError`.
"""

from engine.saved_model.export import save
from engine.saved_model.format import FORMAT, FORMAT_VERSION, SnapshotError
from engine.saved_model.predictor import Predictor, Store, load

__all__ = ["FORMAT", "FORMAT_VERSION", "Predictor", "SnapshotError", "Store", "load", "save"]
