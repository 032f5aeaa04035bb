"""``python -m runtime.zygote FD``: serve fork requests on FD."""

import sys

from runtime.zygote.server import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
