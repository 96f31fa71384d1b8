"""The Payment Hub EE payment manager: settings, CSV, client, prepare/send/sync, callbacks."""
