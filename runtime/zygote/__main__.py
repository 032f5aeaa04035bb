"""``python -m runtime.zygote FD``: serve fork requests on FD.

The import bundle (``runtime.importbundle``) is installed first: the
zygote's imports (boot, the gofer, the whole Sentry) are on the path of
the first container a new shim starts."""

import sys

from runtime import importbundle

importbundle.install()

from runtime.zygote.server import main  # noqa: E402  (after the bundle: served from it)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
