"""The socket layer (Linux net/socket.c and the families below it; gVisor
``pkg/sentry/socket``).

- ``socket``: the ``SocketImpl`` interface every family implements, control
  messages and the socket file;
- ``unix``: AF_UNIX served entirely by the Sentry;
- ``hostinet``: AF_INET/AF_INET6 TCP and UDP served by host sockets of the
  sandbox's network namespace (gVisor's hostinet);
- ``netlink``: AF_NETLINK NETLINK_ROUTE, host backed, read-only (dumps);
- ``families``: socket(2)'s dispatch by family, type and protocol.

Lock order: a family's socket lock (``unix.endpoint._LOCK``), then wait
queue locks. Host sockets hold no Sentry lock while they wait.
"""
