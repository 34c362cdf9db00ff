"""Tools: built-ins, schema generation from Python source, execution."""
