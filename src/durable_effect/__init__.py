"""durable-effect: Effect-native WebSocket rooms for Python."""

__version__ = "0.1.0"
