"""The MemoryFile: all application memory lives in one memfd owned by the
Sentry (gVisor ``pgalloc``).

``mm`` allocates page ranges from it, platforms mirror ranges of it into
application address spaces, and the Sentry reads and writes application
memory through its own shared mapping of it (``MemoryFile.view``), never
through the host process of the application.

Lock order: a MemoryFile has one internal lock, taken last (mm locks first).
"""

from sentry.memory.memory_file import MemoryFile, MemoryFileExhausted

__all__ = ["MemoryFile", "MemoryFileExhausted"]
