"""Keeping a mapped file open while mappings of it exist.

A memory mapping holds a reference to its file (mm/mmap.c: vma->vm_file),
so closing the descriptor after mmap must not close the file. The vfs
``FileDescription`` is reference counted; we take one reference per
``Mappable`` object and drop it when the last VMA using that object is gone
(VMAs split from one mapping share the object)."""

from __future__ import annotations

import weakref
from typing import Any

from sentry.mm import Mappable


def pinned_mappable(desc: Any) -> Mappable:
    """``desc.mappable()`` holding a reference on ``desc`` for its lifetime."""
    mappable: Mappable = desc.mappable()
    desc.inc_ref()
    weakref.finalize(mappable, desc.dec_ref)
    return mappable
