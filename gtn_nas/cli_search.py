"""CLI commands `search` and `rank` (registered on gtn_nas.cli.app)."""
