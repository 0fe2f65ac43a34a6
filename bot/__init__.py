"""The Telegram side of Verzek Guard: Application, handlers, texts, jobs, CLI."""
