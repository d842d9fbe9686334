"""kenshin: exact 30-minute energy from smart-meter readings, delivered as customer CSV files."""

__version__ = "0.1.0"
