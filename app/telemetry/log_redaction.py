"""Tokens never reach a log line. uvicorn logs every socket's request line with its query string
('"WebSocket /ws/admin?token=…" [accepted]', its own `uvicorn.error` logger, whatever
`access_log` says), and a token can ride in a subprotocol or an Authorization header too. A
filter on every handler and on uvicorn's loggers rewrites such a record before it is written."""

from __future__ import annotations

import logging
import re
from typing import Final

REDACTED: Final = "[redacted]"
_SECRETS: Final = re.compile(r"(?P<key>(?i:\btoken=)|(?i:\bbearer\s+)|vigil\.token\.)[^\s&\"',;]+")
_LOGGERS: Final = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "websockets")


def redact(text: str) -> str:
    return _SECRETS.sub(lambda found: found.group("key") + REDACTED, text)


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_FILTER: Final = RedactTokens()


def install_log_redaction() -> None:
    """On the loggers uvicorn writes to and on every handler they have now (a filter on a logger
    misses what its children propagate; one on a handler sees all it writes). Call it once
    logging is configured; calling it again adds nothing."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
