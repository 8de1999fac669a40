import sys

from mlops_assets.cli import main

sys.exit(main())
