"""containerd-shim-pysandbox-v2: the containerd shim v2 binary.

One shim process per pod. It speaks containerd's ttrpc Task API
(``containerd.task.v2.Task``, also served as ``task.v3``), keeps one state
machine per process, publishes task events to containerd, and drives
sandboxes through the ``runtime`` library in-process. It never imports the
Sentry.

Modules, by process step:

- ``entry`` / ``main`` / ``flags``: the console script (which installs the import
  bundle first), the binary's Go-style command line and actions.
- ``start`` / ``address``: find or launch the pod's shim (grouping key,
  socket, fd 3 hand-over). ``delete``: clean up after a (dead) shim.
- ``serve``: the daemon (logging to the ``log`` FIFO, subreaper, signals)
  around ``service.TaskService`` (every Task RPC) and ``events.Publisher``
  (one ordered queue to ``$TTRPC_ADDRESS``).
- ``process``: per-process states and runc's error wording; ``stdio``:
  FIFOs, loggers, files, terminals; ``rootfs``: the bundle's rootfs
  mounts; ``metrics`` / ``oom``: cgroup Metrics and OOM detection.
- ``backend``: the container-operations interface; ``runtime_backend``:
  the runtime library behind it; ``backends``: choosing one.
- ``options``: runtime options and ``pysandbox.toml``; ``reaper``: orphans.

Concurrency: one anyio event loop; blocking work (backend calls, FIFO
opens, stdio copies, OOM eventfd) runs in threads. Lock order: a task's
``events_lock`` only; it is held across "start + /tasks/start" and
"exit + /tasks/exit" so events leave in containerd's order.
"""
