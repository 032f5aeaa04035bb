"""AF_UNIX sockets of the Sentry: addresses (``address``), the per-sandbox
name tables (``namespace``) and the sockets themselves (``endpoint``)."""
