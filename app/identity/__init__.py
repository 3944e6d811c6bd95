"""Identity: tenants, users, passwords, tokens, login and its throttling."""
