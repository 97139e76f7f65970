"""The app core: configuration, extensions, the clock, column types, the queue, per-transaction values, domain signals and errors."""
