"""Backups and restores: the service that makes, checks and restores backups (service.py), what it
reports back (results.py), and the database-file port it works through (ports.py). The tar
archive itself is an adapter (core/adapters/backup_archive.py).
"""
