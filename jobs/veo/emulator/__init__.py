"""Serve a local stand-in for Google's video endpoints: Interactions, Files and Veo predict.

The Interactions dialect (Gemini Omni on the Gemini API and on Vertex AI) and the Files API are
described in ``interactions`` and ``files``; the prompt markers below steer them too.

Run ``python -m jobs.veo.emulator --port 8765 --latency 4 --data-dir DIR``, or start an
``Emulator`` in a test (``with Emulator(latency=0) as emulator:``; ``emulator.wait(timeout)``
blocks until it stops). Every accepted submit renders a real MP4 that shows the prompt, over the
input image when one was sent. 4k videos are rendered at 1080p pixels to keep rendering fast.

Gemini API (v1beta, key in ``x-goog-api-key`` or ``?key=``): submit with
``POST /v1beta/models/{model}:predictLongRunning``, poll ``GET /v1beta/{operation name}`` (no
``done`` key until ready), then download ``GET /v1beta/files/{id}:download?alt=media``. Served
models: veo-3.1-generate-preview, veo-3.1-fast-generate-preview and veo-3.1-lite-generate-preview;
the 2.0 and 3.0 models answer 404 "no longer available". Accepted parameters: aspectRatio,
resolution, durationSeconds, negativePrompt, personGeneration (text-to-video: allow_all only;
image-to-video: allow_adult only), sampleCount (1), enhancePrompt and seed.

Vertex AI (v1 or v1beta1, ``Authorization: Bearer`` with a token from ``POST /token``): submit
with ``POST /v1/projects/{p}/locations/{l}/publishers/google/models/{model}:predictLongRunning``,
poll with ``POST .../models/{model}:fetchPredictOperation`` and the body
``{"operationName": name}``. A done operation lists
``videos[].gcsUri`` when the submit set ``parameters.storageUri`` (read them with
``GET /storage/v1/b/{bucket}/o/{object}?alt=media``), else ``videos[].bytesBase64Encoded``.
Served models: veo-3.1-generate-001 and veo-3.1-fast-generate-001; any other answers 404
"Publisher Model ... was not found". Accepted parameters: those above plus generateAudio,
storageUri and compressionQuality, with sampleCount 1-4 and personGeneration allow_adult (the
default) or disallow.

``POST /token`` grants ``ya29.emulator-...`` tokens for google-auth's service-account (JWT bearer)
and authorized-user (refresh token) flows; ``service_account_info(base_url + "/token")`` returns a
key file that google-auth can sign with.

Both dialects take ``instances[0].image`` and ``instances[0].lastFrame`` (PNG, JPEG or WebP, at
most 20 MB; lastFrame only with image) as ``{bytesBase64Encoded, mimeType}``; the Gemini API also
as ``{inlineData: {mimeType, data}}``, Vertex also as ``{gcsUri, mimeType}`` (never fetched).
Anything else is refused with 400 INVALID_ARGUMENT naming the field, as Google refuses unknown
fields.

Given a data_dir, the emulator keeps its operations, counters and issued tokens in
``state.json`` there, so a restarted emulator still answers for operations submitted before it
stopped; a render that died with the old process is redone at start-up.

Markers in the prompt steer a single request:

``[latency=SECONDS]``
    Finish this operation SECONDS after submit instead of after the server's latency.
``[retry-after=SECONDS]``
    The delay a submit-429 advises (RetryInfo, Retry-After, retry-after-ms); 2 by default.
``[submit-delay=SECONDS]``
    Accept and count the submit at once, but hold its answer SECONDS (at most 60): the
    window in which a caller killed mid-submit cannot know the request went through.
``[pad-mb=N]``
    Make the video N MiB larger (at most 8192) with a trailing top-level ``free`` box, which
    players and demuxers skip: a valid MP4 of any size for download benchmarks, written as a
    hole in the file, so it costs no disk time.
``[fault=NAME]`` where NAME is one of:
    submit-429           429 RESOURCE_EXHAUSTED, per-minute QuotaFailure + RetryInfo "2s" and a
                         ``Retry-After: 2`` header; not accepted, not counted.
    daily-quota          429 RESOURCE_EXHAUSTED, quotaId GenerateRequestsPerDayPerProjectPerModel
                         (plus a short RetryInfo, as the real API sends); not accepted.
    submit-500           500 INTERNAL; not accepted.
    submit-503           503 UNAVAILABLE; not accepted.
    submit-504           504 DEADLINE_EXCEEDED; not accepted.
    submit-500-accepted  counted and the operation runs, but the answer is 500 INTERNAL, so the
                         caller cannot know it was accepted (see /emulator/stats for its name).
    permission           403 PERMISSION_DENIED.
    billing              400 FAILED_PRECONDITION (Vertex: 403 PERMISSION_DENIED, reason
                         BILLING_DISABLED, as Google Cloud answers).
    poll-503-once        the first poll after the operation is done answers 503 UNAVAILABLE.
    done-error           done with ``error: {code: 13, message: ...}``.
    safety               done; the response holds only raiMediaFilteredCount/-Reasons.
    no-response          done with neither ``response`` nor ``error``.
    redirect             download answers 302 to ``/emulator/redirected/<id>`` on the other
                         loopback name (127.0.0.1 <-> localhost), which serves the bytes without
                         a key; a key or bearer token that arrives there counts in stats'
                         ``redirect_key_leaks``.
    html                 download answers 200 text/html.
    truncated            download announces the full Content-Length, sends half and closes.
    expired              download answers 404 NOT_FOUND ("File not found or expired"; on Cloud
                         Storage "No such object").
    slow                 the operation takes 600 s.

On Vertex the quota, permission and billing faults answer in Vertex AI's words, and the download
faults apply to the Cloud Storage download (inline bytes have no download to break).

``GET /emulator/stats`` (no key needed) reports submits, token grants, redirect key leaks and, per
operation, what the submit carried.

Modules: ``server`` (the ``Emulator``, HTTP routing, ``main``), ``operations`` (accepted
operations, renders and state.json), ``gemini``, ``vertex`` and ``interactions`` (one per
dialect), ``files`` (the Files API),
``validation`` (the submit fields both dialects share), ``faults`` (the prompt markers),
``oauth`` (the token endpoint and service-account key), ``storage`` (the fake Cloud Storage),
``media`` (the synthetic MP4s) and ``errors`` (Google's error envelope). Nothing in the
product imports this package: the ``studio`` command starts it as a process.
"""

from .oauth import service_account_info
from .server import Emulator

__all__ = ["Emulator", "service_account_info"]
