"""The pysandbox OCI runtime: host-side container and sandbox management.

``cli/`` is the runc-compatible command line, a thin layer over this library;
the shim calls the same library in-process. ``boot/`` (the sandbox process,
the only importer of the Sentry) and ``gofer/`` (the file server) are the two
processes this package spawns.

Library modules, bottom up:

- ``importbundle``: the bytecode our processes import, in one mapped file
  that the entry points serve imports from.
- ``errors``: the one-line errors every caller prints (runc's phrases kept).
- ``capabilities``, ``mountopts``: Linux capability and mount-option tables.
- ``spec``: ``config.json`` → validated dataclasses; errors name the field.
- ``status``: the OCI status machine and its refusal messages.
- ``state``: per-container records under ``--root`` (flock, atomic writes,
  (pid, start time) liveness).
- ``hooks``: OCI hooks on the host, state JSON on stdin.
- ``cgroups``: v1/v2 placement, limits and stats behind ``CgroupFS``.
- ``hostsys``: the few syscalls ``os`` lacks (ctypes; the only FFI here).
- ``seccomp``: the deny-list filter of the helper processes (the gofer).
- ``console``: pty master over ``--console-socket``, window size.
- ``ttyrelay``: ``run``/``exec`` in the foreground with a terminal: the
  caller's own terminal (raw) copied to and from a pty master, its resizes
  passed on.
- ``controlsock``: the sandbox's filesystem control socket (create, connect).
- ``config``: the global flags as one object.
- ``network``: which network namespace the sandbox lives in (the spec's
  path, the host's, or a new one with loopback up) and its checks.
- ``sandbox``: the handle on a sandbox process (spawn and control API are
  the seams ``boot`` plugs into; teardown works today).
- ``container``: the OCI lifecycle over all of the above.

Lock order: a container's record lock (``StateStore.locked``) is taken
before any sandbox call; no code holds two containers' locks at once.
"""
