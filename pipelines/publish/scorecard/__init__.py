"""The community scorecard: a static site built from the published serving file alone."""
