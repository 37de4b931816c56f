"""``python -m stream_al.stream worker|produce|vendor``: the Kafka commands without the main CLI."""

import sys

from stream_al.stream.cli_commands import main

sys.exit(main())
