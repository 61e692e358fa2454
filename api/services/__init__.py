"""Business logic, callable without HTTP: each function takes a SQLAlchemy Session (and the
store or settings it needs), returns response schemas and raises `api.errors.ApiError`s."""
