"""Backups and restores: the service that makes, checks, restores and drills backups
(service.py), whether an archive verifies (verdicts.py), the checks every candidate database
passes (checks.py), what seals and opens an archive (sealing.py), the folder (folder.py), what
it reports back (results.py), the database-file port it works through (ports.py) and the
archive format's pure rules (archive_rules.py). The archive's tar and age I/O are adapters
(core/adapters/backup_archive.py, sealed_archive.py, age_seal.py).
"""
