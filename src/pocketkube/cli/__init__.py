"""The ``pocketkube`` command: one subcommand per component, and ``server`` for all of them."""
