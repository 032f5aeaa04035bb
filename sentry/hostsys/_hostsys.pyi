"""Type stub for the cffi-generated module (see _build_hostsys.py)."""

from typing import Any

ffi: Any
lib: Any
