"""The browser demo and JSON API over a `Transcriber` (FastAPI)."""
