"""``python -m govconnect``: the command line, for environments without the console script."""

from .cli import main

main()
