"""Exchange API keys: adding, sealing, listing and removing a user's keys (service.py), with their
records and repository (ports.py).
"""
