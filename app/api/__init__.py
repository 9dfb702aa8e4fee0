"""The HTTP service: the FastAPI app, its schemas, middleware, problems and `rarewatch serve`."""
