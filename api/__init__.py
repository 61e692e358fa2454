"""kumo's REST API (FastAPI) and the `kumo` command line."""
