"""Thin HTTP layer: parse the request, call a service, shape the answer."""
