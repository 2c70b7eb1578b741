"""Who may do what: the gate (tokens, roles), rate limits, sockets, signed links, idempotency."""
