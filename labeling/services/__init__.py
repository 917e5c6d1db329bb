"""Writes. One module per entity; functions named <entity>_<action> with keyword-only arguments."""
