"""`python -m optimization.simulator --host 127.0.0.1 --port 8089 [--speed N] [--seed N]`."""

from __future__ import annotations

import argparse

import uvicorn

from optimization.simulator.app import create_app
from optimization.simulator.settings import SimulatorSettings
from optimization.simulator.testing import listening_socket


def main(argv: list[str] | None = None) -> None:
    """Serve a simulator until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m optimization.simulator",
        description="Local Anthropic-compatible API simulator (messages, caching, batches).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per real second"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault draws and ids")
    args = parser.parse_args(argv)
    settings = SimulatorSettings(speed=args.speed, seed=args.seed)
    config = uvicorn.Config(create_app(settings), log_level="info")
    print(f"simulator listening on http://{args.host}:{args.port} (speed {args.speed}x)")
    uvicorn.Server(config).run(sockets=[listening_socket(args.host, args.port)])


if __name__ == "__main__":
    main()
