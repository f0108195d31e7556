"""See README.md in the top-level folder."""
