"""The gofer: one process per container that builds its root and serves its files.

Follows the seed ``runsc/cmd/gofer.go``: in its own mount namespace it
bind-mounts the container root and the spec's bind mounts onto a scaffold
tmpfs, resolving every mount destination inside the root (a symlink in the
image can never send a mount outside it), pivots into the scaffold, writes
the resolved mounts back over the mounts FD, keeps only six capabilities,
chroots into the container root and serves the Sentry. In directfs mode
(the default) serving means donating an O_PATH FD per mount over its socket.

Modules: ``mountconf`` (per-mount configuration flags), ``resolve``
(symlink resolution inside a root), ``rootfs`` (the mount steps), ``caps``
(capability reduction), ``directfs`` (FD donation protocol), ``launch``
(host side: spawning a gofer), ``main`` (the ``pysandbox gofer`` process).
The gofer never imports the Sentry.
"""
