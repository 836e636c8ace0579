"""Backends: the upstreams a request is finally served by."""
