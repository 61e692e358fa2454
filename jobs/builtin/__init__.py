"""Built-in trainers, run as job modules like user code: `jobs.builtin.dnn` (DNNClassifier /
DNNRegressor) and `jobs.builtin.linear` (LinearClassifier / LinearRegressor) train the engine's
canned estimators on CSV or NPZ data from the object store and export a servable snapshot to
`{job_dir}/model/`. `python -m jobs.builtin.dnn --help` lists the arguments; common.py says
how data, features, metrics and the snapshot's metadata work.
"""
