"""Outgoing webhooks: signed deliveries a second through the studio's own delivery path.

A receiver runs as its own process: an HTTPS server on loopback (a threaded
`http.server`, a certificate from a CA this run makes) that verifies every delivery's
signature with the Standard Webhooks library, counts, and answers 204. This process is
the worker, on a throwaway database holding one endpoint and N queued deliveries of a
`job.completed` event (2,000; smoke 50); it runs `jobs.webhooks.tasks.deliver`, the task a
worker runs for an attempt, for each in turn: the attempt taken by its conditional
UPDATE, the body encoded and signed, the receiver's address vetted and the connection
pinned to it (`jobs.webhooks.sending`), the POST over a new TLS connection, the attempt
logged and the delivery marked delivered. Only the network edge is stood in for: the
receiver's name resolves (socket.getaddrinfo) to a public address that is routed to
loopback, and the run's CA is added to requests' trust store (certifi's bundle and the
CA, as its CA bundle path), as a CA installed on the machine would be.

Baseline, the least a signed delivery can be, over the same deliveries to the same
receiver: a plain loop of `standardwebhooks.Webhook(secret).sign(...)` and
`requests.Session().post` of the same body and headers, a session (so a TLS connection)
per delivery, as the studio opens one per delivery. For scale, the same loop on one
keep-alive session. The three take turns in rounds. Reported: deliveries a second and
CPU per delivery of this process (user + system, every thread) and of the receiver.
For scale only (no goal): the studio does a little more than any sender must (its four
statements on the database, the address check).

    uv run python bench/webhooks.py [--smoke] [--deliveries 2000] [--rounds 4]
"""

import argparse
import datetime
import json
import socket
import ssl
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

HOST = "hooks.bench.example"
PUBLIC_IP = "93.184.215.14"  # what HOST resolves to: public, and routed to loopback here
PATH = "/studio"


def main():
    parser = harness.arguments(__doc__.split("\n\n")[0])
    parser.add_argument(
        "--deliveries", type=int, help="queued deliveries (default 2,000; smoke 50)"
    )
    parser.add_argument("--rounds", type=int, help="rounds the senders take turns in (default 4)")
    parser.add_argument(
        "--receiver", nargs=3, metavar=("PORT", "CERT", "SECRET"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.receiver:
        return receive(int(args.receiver[0]), args.receiver[1], args.receiver[2])
    smoke = args.smoke
    count = args.deliveries or (50 if smoke else 2000)
    rounds = args.rounds or (2 if smoke else 4)

    harness.print_machine("Outgoing webhooks: signed deliveries a second", smoke)
    port = harness.free_port()
    with harness.Sandbox("webhooks", keep=args.keep) as sandbox:
        tls = make_certificates(sandbox.root)
        sandbox.django()
        endpoint = set_up(port, tls)
        receiver = harness.start(
            [
                sys.executable,
                __file__,
                "--receiver",
                str(port),
                str(tls / "receiver.pem"),
                endpoint.secret,
            ],
            env=sandbox.env,
            log=sandbox.log("receiver"),
        )
        try:
            harness.wait_for(
                lambda: harness.port_open(port), timeout=30, what="receiver", process=receiver
            )
            results = measure(endpoint, count, rounds, port, tls, receiver)
            stats = receiver_stats(port, tls)
        finally:
            left = harness.stop(receiver)
        if left:
            raise SystemExit(f"the receiver left processes behind: {left}")
        return report(results, stats, count, smoke)


# --- The receiver (its own process) -------------------------------------------------------


def receive(port, certfile, secret):
    """Serve HTTPS on loopback: verify each POST's signature, count it, answer 204."""
    from standardwebhooks import Webhook
    from standardwebhooks.webhooks import WebhookVerificationError

    webhook = Webhook(secret)
    lock = threading.Lock()
    stats = {"received": 0, "verified": 0, "refused": 0, "ids": 0}
    seen = set()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, for the baseline that keeps one

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                webhook.verify(body, dict(self.headers))
                good = True
            except WebhookVerificationError:
                good = False
            with lock:
                stats["received"] += 1
                stats["verified" if good else "refused"] += 1
                seen.add(self.headers.get("webhook-id"))
                stats["ids"] = len(seen)
            self.send_response(204 if good else 400)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):
            with lock:
                data = json.dumps(stats).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


def receiver_stats(port, tls):
    context = ssl.create_default_context(cafile=str(tls / "ca.pem"))
    with urllib.request.urlopen(
        f"https://localhost:{port}/stats", timeout=10, context=context
    ) as answer:
        return json.load(answer)


# --- The edge: a CA, DNS, the trust store --------------------------------------------------


def make_certificates(root):
    """Write ca.pem and receiver.pem (a certificate for HOST and localhost, and its key)."""
    folder = root / "tls"
    folder.mkdir()
    return harness.write_certificates(
        folder, {"receiver": [HOST, "localhost"]}, ca_name="Webhooks bench CA"
    )


def fake_dns(port):
    """Resolve HOST to PUBLIC_IP, and route PUBLIC_IP to the receiver on loopback."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port_, *args, **kwargs):
        if host == HOST:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC_IP, port_ or 443))]
        if host == PUBLIC_IP:
            return real("127.0.0.1", port, *args, **kwargs)
        return real(host, port_, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo


def set_up(port, tls):
    """Fake the edge, and register the receiver as an endpoint as a person would."""
    import certifi
    import requests.adapters

    from jobs.webhooks import services

    fake_dns(port)
    # The machine's bundle with the run's CA added, as installing a CA would: each new
    # connection loads it, so its size is part of a delivery's cost.
    bundle = tls / "bundle.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes() + (tls / "ca.pem").read_bytes())
    requests.adapters.DEFAULT_CA_BUNDLE_PATH = str(bundle)
    owner = harness.make_user("hooked")
    return services.endpoint_create(
        owner=owner, url=f"https://{HOST}:{port}{PATH}", events=["job.completed"]
    )


def queue(endpoint, count, first):
    """Queue count deliveries of job.completed to endpoint, as event_fire writes them."""
    from datetime import timedelta

    from django.utils import timezone

    from jobs.models import VideoCreationJob
    from jobs.webhooks import services
    from jobs.webhooks.models import WebhookDelivery

    now = timezone.now()
    owner = endpoint.owner
    jobs = VideoCreationJob.objects.bulk_create(
        VideoCreationJob(
            owner=owner,
            prompt_text=f"Webhooks bench {n}: a paper lantern drifting over a night river",
            model=harness.MODEL,
            options=harness.JOB_OPTIONS,
            status=VideoCreationJob.Status.COMPLETED,
            stage=VideoCreationJob.Stage.DONE,
            progress=100,
            video_url=f"videos/bench-{n}/output.mp4",
            completed_at=now,
        )
        for n in range(first, first + count)
    )
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            endpoint=endpoint,
            event_type="job.completed",
            event_key=f"job.completed:{job.pk}",
            payload={
                "type": "job.completed",
                "timestamp": services.iso(now),
                "data": services.job_data(job),
            },
            next_attempt_at=now + timedelta(seconds=services.attempt_lease_seconds()),
            retry_until=now + timedelta(hours=24),
        )
        for job in jobs
    )
    return [(delivery.pk, delivery.payload) for delivery in deliveries]


# --- The senders ---------------------------------------------------------------------------


def studio(endpoint, deliveries, context):
    from jobs.webhooks import tasks

    for delivery_id, _payload in deliveries:
        tasks.deliver(delivery_id, 1)


def baseline(endpoint, deliveries, context, *, keep_alive=False):
    """Sign and POST each delivery's body: a Session per delivery, or one for all."""
    import requests
    from django.conf import settings
    from standardwebhooks import Webhook

    url, ca = f"https://localhost:{context['port']}{PATH}", context["ca"]
    shared = requests.Session() if keep_alive else None
    try:
        for delivery_id, payload in deliveries:
            body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
            now = datetime.datetime.now(datetime.UTC)
            headers = {
                "webhook-id": delivery_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": Webhook(endpoint.secret).sign(delivery_id, now, body),
                "Content-Type": "application/json",
                "User-Agent": "VideoStudio-Webhooks/1",
            }
            session = shared or requests.Session()
            try:
                response = session.post(
                    url,
                    data=body.encode(),
                    headers=headers,
                    timeout=settings.WEBHOOK_TIMEOUT,
                    verify=ca,
                    allow_redirects=False,
                )
            finally:
                if shared is None:
                    session.close()
            if response.status_code != 204:
                raise SystemExit(f"the receiver answered the baseline {response.status_code}")
    finally:
        if shared is not None:
            shared.close()


SENDERS = {
    "studio (tasks.deliver)": studio,
    "baseline, a session each": baseline,
    "baseline, one keep-alive session": lambda *a: baseline(*a, keep_alive=True),
}


def measure(endpoint, count, rounds, port, tls, receiver):
    """Run every sender over its own count deliveries, in rounds taking turns."""
    context = {"port": port, "ca": str(tls / "bundle.pem")}
    per_round = max(1, count // rounds)
    warm = 5
    batches = {
        name: queue(endpoint, warm + per_round * rounds, n * 100_000)
        for n, name in enumerate(SENDERS)
    }
    for name, send in SENDERS.items():  # untimed: imports, the first handshake
        send(endpoint, batches[name][:warm], context)
    results = {name: {"sent": 0, "wall": 0.0, "cpu": 0.0, "receiver_cpu": 0.0} for name in SENDERS}
    names = list(SENDERS)
    for n in range(rounds):
        order = names[n % len(names) :] + names[: n % len(names)]
        for name in order:
            chunk = batches[name][warm + n * per_round : warm + (n + 1) * per_round]
            cpu, receiver_cpu = time.process_time(), harness.tree_cpu_seconds(receiver.pid)
            began = time.perf_counter()
            SENDERS[name](endpoint, chunk, context)
            result = results[name]
            result["wall"] += time.perf_counter() - began
            result["cpu"] += time.process_time() - cpu
            result["receiver_cpu"] += harness.tree_cpu_seconds(receiver.pid) - receiver_cpu
            result["sent"] += len(chunk)
    check_delivered([pk for pk, _payload in batches[names[0]]])
    return results


def check_delivered(ids):
    from jobs.webhooks.models import WebhookAttempt, WebhookDelivery

    delivered = WebhookDelivery.objects.filter(pk__in=ids, status="delivered", response_code=204)
    if delivered.count() != len(ids):
        raise SystemExit(f"only {delivered.count()} of the studio's {len(ids)} were delivered")
    if WebhookAttempt.objects.filter(delivery_id__in=ids, succeeded=True).count() != len(ids):
        raise SystemExit("the studio did not log one successful attempt per delivery")


def report(results, stats, count, smoke):
    sent = sum(result["sent"] for result in results.values())
    warm = stats["received"] - sent
    if (
        stats["refused"]
        or stats["verified"] != stats["received"]
        or stats["ids"] != stats["received"]
    ):
        raise SystemExit(f"the receiver refused or saw a webhook-id twice: {stats}")
    rows = []
    for name, result in results.items():
        rows.append(
            [
                name,
                result["sent"],
                result["sent"] / result["wall"],
                1000 * result["cpu"] / result["sent"],
                1000 * result["receiver_cpu"] / result["sent"],
            ]
        )
    harness.figure("timed deliveries per sender", count)
    harness.figure("received and verified by the receiver", stats["verified"])
    harness.figure("  of which untimed warm-ups", warm)
    harness.table(
        ["sender", "deliveries", "per second", "CPU ms each", "receiver CPU ms each"], rows
    )
    studio_result = results["studio (tasks.deliver)"]
    rate = studio_result["sent"] / studio_result["wall"]
    harness.figure("studio: deliveries a second", rate, "/s")
    harness.figure(
        "studio: CPU per delivery", 1000 * studio_result["cpu"] / studio_result["sent"], "ms"
    )
    for name in ("baseline, a session each", "baseline, one keep-alive session"):
        result = results[name]
        harness.ratio(
            "studio deliveries a second",
            rate,
            result["sent"] / result["wall"],
            name=name.replace("baseline, ", "the signed-POST loop, "),
            smoke=smoke,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
