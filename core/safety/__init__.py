"""Account safety: the user's own lock, the admin's freeze and the checks that guard sensitive
actions (service.py), with their record and repository (ports.py).
"""
