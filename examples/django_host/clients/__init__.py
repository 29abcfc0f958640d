"""The host's own data: clients with names and addresses, which never enter imflow."""
