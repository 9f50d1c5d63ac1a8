"""Test data for the gateway: bookshelf.proto, a service using every HttpRule feature,
and bookshelf.py, its in-memory server."""
