"""Data quality: each dataset's Great Expectations suite, run on every submission inside DuckDB."""
