"""The `tierdesk` command: Django's management commands plus our own verbs.

    tierdesk migrate | demo | worker | sla check FILE | sla load FILE | sla explain TD-1 ...
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tierdesk.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["tierdesk", *sys.argv[1:]])


if __name__ == "__main__":
    main()
