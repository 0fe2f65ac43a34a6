"""USDT TRC20 payments: the pure rules that judge a transfer (rules.py, tron.py), the chain source
protocol (chain.py), invoices and submitted transfers (invoices.py), the service that checks and
decides payments (service.py), licenses and the referral wallet ledger, and their records and
repositories (ports.py). The TronScan client and simulator are adapters (core/adapters/).
"""
