"""``harness evidence sign DIR --key KEY`` and ``harness evidence verify DIR [--key PUB]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("evidence", help="sign evidence, or verify that it was not altered")
    p.add_argument("action", choices=["sign", "verify"])
    p.add_argument("directory", metavar="DIR", help="an evidence directory (evidence/<run-id>/)")
    p.add_argument("--key", metavar="KEY",
                   help="sign: the OpenSSH private key (no passphrase); verify: the signer's PUBLIC key "
                        "(default: the directory's own signer.pub, which proves integrity, not who signed)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from harness.evidence.signing import sign, verify

    directory = Path(args.directory)
    if args.action == "sign":
        if not args.key:
            print("harness evidence sign needs --key KEY (an OpenSSH private key)", file=sys.stderr)
            return 2
        sig = sign(directory, Path(args.key))
        print(f"signed {directory} ({sig.name})")
        return 0
    result = verify(directory, Path(args.key) if args.key else None)
    if args.key is None:
        print(f"note: checked against {result.signer or 'signer.pub'} from the directory itself; pass --key "
              "with your own copy of the signer's public key to know who signed", file=sys.stderr)
    for problem in result.problems:
        print(f"FAIL {problem}")
    if result.ok:
        print(f"OK {directory}: run {result.run_id}, harness {result.harness_version}, {result.files} files, "
              f"signature good ({result.signer})")
        return 0
    return 1
