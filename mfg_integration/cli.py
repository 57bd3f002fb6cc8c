"""``mfg-integration``: command-line tools of the protocol kit.

``mfg-integration keygen`` prints a new encryption key for the ``secret_keys`` option of
the ``[mfg_integration]`` section of the Odoo configuration file.
``mfg-integration webhook-secret`` prints a new Standard Webhooks ``whsec_`` secret.
"""

import argparse
import sys

from .secretbox import generate_key
from .webhooks import generate_webhook_secret


def build_parser():
    parser = argparse.ArgumentParser(
        prog="mfg-integration",
        description="Tools of the mfg_integration protocol kit.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "keygen",
        help="print a new encryption key for stored secrets ([mfg_integration] "
        "secret_keys)",
    )
    secret = commands.add_parser(
        "webhook-secret", help="print a new Standard Webhooks signing secret (whsec_…)"
    )
    secret.add_argument(
        "--bytes",
        type=int,
        default=32,
        help="number of random bytes, 24 to 64 (default: 32)",
    )
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "keygen":
        sys.stdout.write(generate_key() + "\n")
    elif args.command == "webhook-secret":
        sys.stdout.write(generate_webhook_secret(args.bytes) + "\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
