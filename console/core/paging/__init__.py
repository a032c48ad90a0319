"""Paging: which of the fleet's alerts wake someone (rules.py), the record of what was
sent (pager.py: sent once, resolved only if sent, kept across restarts) and the channels
that carry them (alertmanager.py)."""
