"""rayab.service."""
