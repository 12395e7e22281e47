"""Glance <-> datastore: image cache, transfer and conversion."""
