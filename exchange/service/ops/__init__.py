"""The operations API the CLI and the console read: one job per module."""
