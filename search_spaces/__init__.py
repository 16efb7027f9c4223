"""Built-in search-space files (TOML); see gtn_nas.spaces for the format."""
