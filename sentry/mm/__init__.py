"""Address spaces of tasks: VMAs, page mappings onto the MemoryFile, faults,
copy-in/copy-out, copy-on-write (gVisor ``pkg/sentry/mm``).

Lock order: ``MemoryManager`` lock, then ``SharedFileCache``, then the
MemoryFile's lock.
"""

from sentry.mm.file_cache import SharedFileCache
from sentry.mm.mappable import Mappable
from sentry.mm.memory_manager import MemoryManager
from sentry.mm.vma import VMA, VMARecord

__all__ = ["VMA", "Mappable", "MemoryManager", "SharedFileCache", "VMARecord"]
