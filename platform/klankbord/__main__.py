import sys

from klankbord.cli import main

sys.exit(main())
