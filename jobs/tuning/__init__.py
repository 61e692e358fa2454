"""Hyperparameter tuning: CloudML's `HyperparameterSpec` and the searches that propose trials.

- `jobs.tuning.spec`: `parse_spec` validates a raw spec (CloudML's field names and enums) into
  a frozen `HyperparameterSpec`, raising `SpecError` that names the offending field.
- `jobs.tuning.search`: `make_searcher(spec, seed)` gives grid, random or Bayesian (Gaussian
  process + expected improvement) search behind one `Searcher.suggest` call.

Pure numpy, no DB and no I/O: the runner owns trials, this package only decides their values.
"""
