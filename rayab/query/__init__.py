"""rayab.query."""
