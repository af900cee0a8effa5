import sys

from ganspec.cli import main

sys.exit(main())
