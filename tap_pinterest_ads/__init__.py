"""Singer tap for Pinterest ads data."""
