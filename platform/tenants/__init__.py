"""The tenants app."""
