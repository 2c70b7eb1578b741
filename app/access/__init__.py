"""Who may do what: tokens and roles, rate limits, socket admission, signed links, idempotency."""
