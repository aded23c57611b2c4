"""Backbone: the shared measurement pipeline of a collective-impact partnership."""
