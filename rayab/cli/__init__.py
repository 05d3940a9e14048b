"""rayab.cli."""
