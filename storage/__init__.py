"""SQLite storage: connection set-up, versioned migrations, repositories. All SQL lives here."""
