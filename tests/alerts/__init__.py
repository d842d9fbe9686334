"""Alerts: rules, state, channels and their durable queue."""
