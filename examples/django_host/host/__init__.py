"""A small Django host of imflow: clients (names, addresses) in its own model, cases in imflow."""
