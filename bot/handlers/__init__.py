"""One module per feature area; each exposes ``register(application)``."""
