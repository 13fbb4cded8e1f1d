"""``python -m ccnet.client``: the ``ccnet`` command line."""

from .cli import main

main()
