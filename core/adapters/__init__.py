"""Adapters: the only core modules that do I/O through third-party libraries or the file system
(TronScan over httpx and its simulator, Redis limiter storage, argon2 password hashing, captcha
images, backup tar archives). Pure rules and services never import httpx, redis, argon2, captcha
or tarfile themselves.
"""
