"""HTTP API (FastAPI): portal intake, cases for local processing, events, admin."""
