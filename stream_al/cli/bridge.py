"""``stream-al bridge label-studio``: selected items and expert requests to Label Studio tasks,
annotations back to labels (extra ``stream-al[label-studio]``)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
from typing import Any

from stream_al.cli.errors import CommandError
from stream_al.cli.options import add_kafka, kafka_errors, load_settings


@kafka_errors
def run_label_studio(args: argparse.Namespace) -> int:
    try:
        from stream_al.label_studio.bridge import Bridge, BridgeOptions
    except ImportError as e:
        raise CommandError(f"the Label Studio bridge needs {e.name}: "
                           "pip install 'stream-al[label-studio]'") from None
    token = args.token or os.environ.get("LABEL_STUDIO_TOKEN")
    if not token:
        raise CommandError("no Label Studio API token: pass --token or set "
                           "$LABEL_STUDIO_TOKEN (Account & Settings in Label Studio)")
    options = BridgeOptions(
        url=args.url, token=token, project=args.project,
        expert_project=None if args.no_expert else args.expert_project,
        classes=tuple(c.strip() for c in (args.classes or "").split(",") if c.strip()),
        group=args.group, vendor=args.vendor, poll_s=args.poll,
        metrics_port=args.metrics_port, pre_annotate=not args.no_pre_annotation,
        max_idle_s=args.max_idle,
    )
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("stream_al.label_studio").setLevel(logging.INFO)
    settings = load_settings(args)
    bridge = Bridge(settings.kafka, settings.embedder, options)
    signal.signal(signal.SIGTERM, lambda *_: bridge.stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        bridge.run(lambda line: print(line, flush=True))
    return 0


def add_parser(subparsers: Any) -> None:
    bridge = subparsers.add_parser("bridge", help="bridges to labelling tools (Label Studio)")
    tools = bridge.add_subparsers(dest="tool", required=True, metavar="TOOL")
    ls = tools.add_parser(
        "label-studio", help="selected items to Label Studio tasks, annotations to labels",
        description="Creates a Label Studio task for each selected item (and each expert "
        "request, in an expert project) and sends the annotations back as labels with "
        "annotator ids label-studio/<user id>.")
    add_kafka(ls)
    ls.add_argument("--url", default=os.environ.get("LABEL_STUDIO_URL", "http://127.0.0.1:8080"),
                    help="Label Studio's address (default: $LABEL_STUDIO_URL or "
                    "http://127.0.0.1:8080)")
    ls.add_argument("--token", help="a Label Studio user's API token (default: "
                    "$LABEL_STUDIO_TOKEN)")
    ls.add_argument("--project", default="stream-al", help="title of the project of selected "
                    "items (made if missing)")
    ls.add_argument("--expert-project", dest="expert_project", default="stream-al expert",
                    help="title of the project of expert requests (made if missing)")
    ls.add_argument("--no-expert", dest="no_expert", action="store_true",
                    help="do not bridge expert requests")
    ls.add_argument("--classes", help="classes to offer from the start, comma-separated "
                    "(besides kafka.label_classes and the model's)")
    ls.add_argument("--group", help="consumer group (default: <app_id>-label-studio)")
    ls.add_argument("--vendor", help="secured cluster: the bridge's vendor name; labels go to "
                    "<labels>.<vendor>")
    ls.add_argument("--poll", type=float, default=0.5, help="seconds between looks for new "
                    "annotations (default 0.5)")
    ls.add_argument("--metrics-port", dest="metrics_port", type=int, default=9465,
                    help="/metrics, /healthz, /readyz (0: any free port; default 9465)")
    ls.add_argument("--no-pre-annotation", dest="no_pre_annotation", action="store_true",
                    help="do not show the model's guess on each task")
    ls.add_argument("--max-idle", dest="max_idle", type=float,
                    help="exit after this many seconds with nothing to do")
    ls.set_defaults(func=run_label_studio)
