"""``python -m mlp_core``: the ``mlp-core`` command. A Ctrl-C that lands while the entry point
itself is imported is answered here, as the entry point answers every later one."""

try:
    from ._entry import main
except KeyboardInterrupt:
    import os
    import sys

    sys.stderr.write("mlp-core: interrupted\n")
    sys.stderr.flush()
    os._exit(130)

raise SystemExit(main())
