"""The README's 30-line room."""
