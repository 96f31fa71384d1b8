"""Users, roles and the permission check every service runs first."""
