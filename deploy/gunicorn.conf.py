"""gunicorn settings for every way the studio is served (systemd, Procfile, `studio`).

A batch ZIP or a video streamed by Django lasts as long as the client takes to read it.
gunicorn's sync workers count a whole request against `timeout` and kill the worker
mid-stream (a ZIP was cut at 30 s); threaded workers keep reporting to the arbiter while
a thread streams, so `timeout` only catches a wedged process and no stream is cut.
"""

worker_class = "gthread"
# Requests a worker serves at once; a long download holds one thread, not the worker.
threads = 4
# Seconds a worker process may go silent (wedged) before it is restarted.
timeout = 30
# Seconds a stopping worker gives the streams in progress.
graceful_timeout = 20
accesslog = "-"
