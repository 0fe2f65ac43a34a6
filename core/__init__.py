"""Verzek Guard domain: services that know nothing about Telegram.

The house: a flat kernel (errors, clock, ids, digits, money, config, authz, crypto, signing, key
checks and rotation, the rate limiter, services) and one package per feature (accounts,
twofactor, apikeys, safety, audit, payments, withdrawals, backups), each with its service and a
``ports.py`` of the records and repositories storage fills for it; ``ports.py`` here holds the
unit of work that names them all. ``rules.py`` modules are pure; I/O through third-party
libraries lives only in ``adapters/``.
"""
