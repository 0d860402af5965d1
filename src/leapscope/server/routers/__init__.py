"""The HTTP API's routers, one module per resource (runs, samples, projects, ...)."""
