"""`python -m fakeherder [--port 8100] [--scenario default|quick] [--speed 1] [--latency 0] [--verbose]`."""

import sys

from .cli import main

sys.exit(main())
