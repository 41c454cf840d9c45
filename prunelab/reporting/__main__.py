import sys

from prunelab.reporting.cli import main

sys.exit(main())
