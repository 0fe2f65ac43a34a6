"""Verzek Guard domain: services that know nothing about Telegram."""
