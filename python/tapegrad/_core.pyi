"""Type stubs for the native extension tapegrad._core."""
__version__: str
