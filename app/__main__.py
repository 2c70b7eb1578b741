"""`python -m app ...` is `vigil ...`; this is also the entry point of the single binary that
`make dist` builds (packaging/vigil.spec)."""

from __future__ import annotations

import multiprocessing
import sys


def main() -> int:
    # In the frozen binary, the vision pool's spawned workers and multiprocessing's resource
    # tracker are this same executable started with multiprocessing's own arguments:
    # freeze_support() runs them and exits before the CLI parses anything. (No-op unfrozen.)
    multiprocessing.freeze_support()
    if sys.argv[1:3] == ["-m", "app.kafka.mirror_process"]:
        # The Kafka mirror's child is started as `sys.executable -m app.kafka.mirror_process`; in
        # the binary sys.executable is vigil itself, so the module is run from here.
        from app.kafka import mirror_process

        mirror_process.main()
        return 0
    from app.commands.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
