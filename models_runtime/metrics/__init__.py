"""Offline evaluation functions: pure functions on arrays, no ORM, no models inside."""
