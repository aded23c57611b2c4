"""Publish stage: the serving database analysts read, and file exports of every mart."""
