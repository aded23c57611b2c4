"""Ingest stage: partner deliveries land append-only in the warehouse `raw` schema."""
