"""Klankbord: the composition root and the shared kernel (settings, tenancy, audit, web)."""
