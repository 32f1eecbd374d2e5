"""Background jobs: recorded in the database, run by a worker process (or a thread in the demo)."""
