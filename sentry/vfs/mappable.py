"""The protocol file-backed memory mappings use: ``sentry.mm.Mappable``.

mm is below vfs, so the files here implement mm's protocol directly; this
module only re-exports it under the name the vfs code has always used.
"""

from sentry.mm.mappable import Mappable

__all__ = ["Mappable"]
