"""Device-facing MQTT endpoint: a sans-IO packet codec for MQTT 3.1.1 and 5.0 (see codec)."""
