"""Textual screens and widgets. No I/O of their own: they render state and call services."""
