"""Persistence: one SQL schema for SQLite (embedded) and PostgreSQL (scale-out), and blobs."""
