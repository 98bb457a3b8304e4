"""`python -m sandbox serve [--port 8765] [--scale medium] [--seed 42] [--latency realistic]`, and
`python -m sandbox env [--url http://127.0.0.1:8765]`: the environment (base URLs, credentials) that points every
integration at a running sandbox, as `export` lines."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from sandbox.common.state import LATENCY_PROFILES, SandboxState
from sandbox.server import create_app
from sandbox.world import SCALES, World


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run every provider simulator on one port")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--scale", choices=sorted(SCALES), default="medium")
    serve.add_argument("--seed", type=int, default=42)
    serve.add_argument("--latency", choices=sorted(LATENCY_PROFILES), default="realistic")
    serve.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="simulator option, e.g. shopify_plan=standard")
    env = sub.add_parser("env", help="print the environment that points every integration at a running sandbox")
    env.add_argument("--url", default="http://127.0.0.1:8765")
    args = parser.parse_args()
    if args.command == "env":
        import shlex

        from sandbox.env import client_env

        for name, value in client_env(args.url).items():
            print(f"export {name}={shlex.quote(value)}")
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s sandbox %(levelname)s %(message)s")
    options = dict(item.split("=", 1) for item in args.option)
    state = SandboxState(World(seed=args.seed, scale=args.scale), latency=args.latency, options=options)
    uvicorn.run(create_app(state), host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
