"""Protobuf definitions written for pysandbox and their generated modules.

The ``.proto`` sources sit beside their generated ``_pb2.py``/``_pb2.pyi``
modules; ``scripts/genprotos`` regenerates them (a test checks the committed
modules are fresh). Proto import paths are rooted at the repository
(``protos/containerd/types/mount.proto``), so generated modules import each
other as ``protos.<...>``.

- ``containerd/``: containerd's wire contracts, written anew with upstream's
  proto package names and field numbers so bytes and Any type URLs match:
  ``task/v2`` (the shim's Task service), ``events`` (task events),
  ``services/events/ttrpc/v1`` (Forward), ``types`` (Mount, RuntimeInfo,
  task Status), ``runtimeoptions/v1``, ``runc/options``,
  ``runtime/bootstrap/v1`` (containerd 2.3 start contract), ``cgroups/v1``
  and ``cgroups/v2`` (Stats payloads).
- ``pysandbox/control/v1``: our own runtime <-> sandbox control API.
- ``typeurl``: packing Any values with containerd's bare type URLs.

google.rpc.Status is deliberately not defined here: the ttrpc package owns
the framing messages, and a second registration of the same full name in
the default descriptor pool fails at import.
"""
