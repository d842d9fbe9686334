"""Run the command line as ``python -m kenshin``."""

from kenshin.entrypoints.cli import main

main()
