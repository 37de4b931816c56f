"""``python -m stream_al.cli COMMAND ...``: the ``stream-al`` program."""

import sys

from stream_al.cli.program import main

sys.exit(main())
