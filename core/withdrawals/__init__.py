"""Wallet withdrawals: the pure rules for amounts, addresses and reasons plus the value types shown
to users (rules.py), the service for requests and admin decisions (service.py), and the records
and repository (ports.py).
"""
