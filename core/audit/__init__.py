"""The audit trail and what watches it: the hash-chained log (log.py), detection rules and the
suspicion reporter, alerts and their delivery notices, the admins' activity views and platform
stats, and the records and repositories behind them (ports.py).
"""
