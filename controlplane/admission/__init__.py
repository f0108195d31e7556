"""Admission: plugins that mutate and validate objects on their way into the store (see chain.py)."""
