"""deepgep."""
