"""rayab.pipeline."""
