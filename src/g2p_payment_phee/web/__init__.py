"""The web application: the REST API (and, later, the staff's pages)."""
