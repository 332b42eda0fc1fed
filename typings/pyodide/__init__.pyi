# Stubs for the `pyodide` package (only what durable-effect uses).
__version__: str
