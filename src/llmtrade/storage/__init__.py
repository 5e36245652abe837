"""PostgreSQL: the connection (embedded or DATABASE_URL), migrations, the event store."""
