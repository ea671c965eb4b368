"""The billing app."""
