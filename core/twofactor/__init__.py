"""Two-factor authentication: TOTP enrolment, verification and backup codes (service.py), with the
records and repository it needs (ports.py).
"""
