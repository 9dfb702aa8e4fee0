"""Maintenance scripts: regenerate the API examples, docs/api.md and the README's outputs."""
