"""The ``mlp-core`` command's entry point (and ``python -m mlp_core``'s).

It imports nothing before its ``try``, so that Ctrl-C at any moment, while the command's modules
are still being imported included, ends with the one line ``mlp-core: interrupted`` and exit 130.
"""

import sys


def main() -> int:
    try:
        from .cli import main as cli_main

        return cli_main()
    except KeyboardInterrupt:
        print("mlp-core: interrupted", file=sys.stderr)
        return 130
