"""The casework app."""
