"""Alerts stage: tell each partner, and only that partner, what is wrong with its deliveries."""
