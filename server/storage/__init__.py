"""The prediction log: every prediction recorded through peewee (SQLite by default, PostgreSQL by URL)."""
