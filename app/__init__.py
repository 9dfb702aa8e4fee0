"""rarewatch's service side: settings, the HTTP API and the `rarewatch` command line."""
