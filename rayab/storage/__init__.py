"""rayab.storage."""
