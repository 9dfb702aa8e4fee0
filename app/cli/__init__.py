"""The `rarewatch` command line, with its progress display, plots and training reports."""
