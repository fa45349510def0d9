"""Stream a ZIP of files without holding it in memory or on disk."""

import zipfile

from . import storage

CHUNK_SIZE = 1024 * 1024


class _Pipe:
    """A write-only file that hands what is written to the generator reading it."""

    def __init__(self):
        self.chunks = []
        self.position = 0

    def write(self, data):
        self.chunks.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self):
        return self.position

    def flush(self):
        pass

    def drain(self):
        chunks, self.chunks = self.chunks, []
        return b"".join(chunks)


def stream_zip(entries):
    """Yield a ZIP archive of entries, (name in the archive, stored name), piece by piece.

    Videos are already compressed, so they are stored, not deflated; ZipFile writes data
    descriptors because the pipe cannot seek back, and ZIP64 keeps large files safe.
    """
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, stored in entries:
            source = storage.open_stream(stored)
            with source, archive.open(name, "w", force_zip64=True) as target:
                for chunk in iter(lambda s=source: s.read(CHUNK_SIZE), b""):
                    target.write(chunk)
                    yield pipe.drain()
            yield pipe.drain()
    yield pipe.drain()
