"""``python -m web``: serve the app through waitress, a production WSGI server."""

from __future__ import annotations

import argparse

from waitress import serve

from . import create_app


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m web", description="Serve the consent web app.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    app = create_app()
    print(f"consent is serving on http://{args.host}:{args.port}/ (Ctrl+C to stop)", flush=True)
    serve(app, host=args.host, port=args.port, threads=args.threads, ident="consent")


if __name__ == "__main__":
    main()
