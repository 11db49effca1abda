"""Market-data sources: uploaded files, vendors and synthetic demo data."""
