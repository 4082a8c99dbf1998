"""``python -m stavis_lib SUBCOMMAND ...`` (also ``torchrun ... -m stavis_lib train``): runs
:func:`stavis_lib.cli.main`, where the sub-commands are listed."""
import sys

from stavis_lib.cli import main

if __name__ == "__main__":
    sys.exit(main())
