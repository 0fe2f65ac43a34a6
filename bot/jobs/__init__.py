"""Repeating work run by PTB's JobQueue; each module exposes ``register(application)``."""
