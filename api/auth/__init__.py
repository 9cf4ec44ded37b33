"""Accounts, roles, sessions and API tokens of the console and the REST API."""
