"""``python -m sparse_hw`` runs the CLI."""

from .cli import main

main()
