"""Accounts: registration, log-in and sessions, the log-in throttle, the cooling-down period after
a security change, and the ports their repositories fill (users, sessions, security state).
"""
