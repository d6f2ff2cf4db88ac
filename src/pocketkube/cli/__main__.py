"""``python -m pocketkube.cli``: the same as the ``pocketkube`` command."""

from pocketkube.cli.main import main

main()
