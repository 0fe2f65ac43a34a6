"""Backups and restores: the service that makes, checks and restores backups (service.py), what it
reports back (results.py), the database-file port it works through (ports.py) and the archive
format's pure rules (archive_rules.py). The archive's tar I/O is an adapter
(core/adapters/backup_archive.py).
"""
