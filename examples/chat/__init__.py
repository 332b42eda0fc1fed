"""The chat room of the seed's Quick start, ported to Python."""
