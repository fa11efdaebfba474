"""Render notices with templates and deliver them through an outbox (file, SMTP, webhook)."""
