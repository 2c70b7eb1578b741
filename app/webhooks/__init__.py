"""Webhooks: configured endpoints told what happened, from the journal, signed, at least once and
in order (app/webhooks/service.py)."""
