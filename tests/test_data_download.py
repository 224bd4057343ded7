"Downloading corpora against a real HTTP server on 127.0.0.1: verified, atomic, and clear when it fails."
import functools, hashlib, http.server, os, socket, threading
from pathlib import Path
import pytest
from tiny_transformer import data
from tiny_transformer.data import (DATA_ENV, TINYSHAKESPEARE_SHA256, download, load_corpus, tinyshakespeare_path)

# The copy used by tests and benchmarks lives next to the repository and is never committed.
SHARED_COPY = Path(__file__).resolve().parents[2]/'shared'/'data'/'tinyshakespeare.txt'
needs_copy = pytest.mark.skipif(not SHARED_COPY.is_file(), reason=f'no tinyshakespeare copy at {SHARED_COPY}')
PAYLOAD = b'First Citizen:\nBefore we proceed any further, hear me speak.\n' * 100
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


class _TruncatingHandler(http.server.SimpleHTTPRequestHandler):
    "Serves files; `/truncated/NAME` promises the whole file but sends half of it and hangs up."
    def log_message(self, *args): pass
    def do_GET(self):
        if not self.path.startswith('/truncated/'): return super().do_GET()
        body = Path(self.directory, self.path.removeprefix('/truncated/')).read_bytes()
        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()
        self.wfile.write(body[:len(body) // 2]); self.wfile.flush()
        self.close_connection = True


@pytest.fixture
def server(tmp_path):
    "A real HTTP server on 127.0.0.1 (ephemeral port) serving tmp_path/www; yields (base_url, www)."
    www = tmp_path/'www'; www.mkdir()
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_TruncatingHandler, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs=dict(poll_interval=0.05), daemon=True); thread.start()
    try: yield f'http://127.0.0.1:{httpd.server_address[1]}', www
    finally: httpd.shutdown(); httpd.server_close(); thread.join(5)


@pytest.fixture
def closed_port():
    "A port on 127.0.0.1 that nothing listens on."
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


@pytest.fixture
def no_data_env(monkeypatch): monkeypatch.delenv(DATA_ENV, raising=False)


def _files(folder: Path): return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_verifies_and_writes(server, tmp_path):
    url, www = server
    (www/'corpus.txt').write_bytes(PAYLOAD)
    dest = download(f'{url}/corpus.txt', tmp_path/'cache'/'corpus.txt', PAYLOAD_SHA256)
    assert dest.read_bytes() == PAYLOAD
    assert _files(tmp_path/'cache') == ['corpus.txt']  # no temporary file left behind


def test_corrupted_download_is_rejected_and_nothing_is_cached(server, tmp_path):
    url, www = server
    (www/'corpus.txt').write_bytes(PAYLOAD[:-1] + b'?')  # one byte differs
    with pytest.raises(ValueError, match='nothing was saved') as e:
        download(f'{url}/corpus.txt', tmp_path/'cache'/'corpus.txt', PAYLOAD_SHA256)
    assert PAYLOAD_SHA256 in str(e.value)
    assert _files(tmp_path/'cache') == []


def test_failed_download_keeps_the_previous_file(server, tmp_path):
    url, www = server
    (www/'corpus.txt').write_bytes(b'not it')
    dest = tmp_path/'corpus.txt'; dest.write_bytes(b'the old, good file')
    with pytest.raises(ValueError): download(f'{url}/corpus.txt', dest, PAYLOAD_SHA256)
    assert dest.read_bytes() == b'the old, good file' and _files(tmp_path) == ['corpus.txt', 'www']


def test_connection_dropped_mid_download(server, tmp_path):
    url, www = server
    (www/'corpus.txt').write_bytes(PAYLOAD)
    with pytest.raises(ConnectionError, match=f'connection closed after {len(PAYLOAD) // 2:,} of {len(PAYLOAD)} bytes'):
        download(f'{url}/truncated/corpus.txt', tmp_path/'cache'/'corpus.txt', PAYLOAD_SHA256)
    assert _files(tmp_path/'cache') == []


def test_http_error_is_a_connection_error(server, tmp_path):
    url, _ = server
    with pytest.raises(ConnectionError, match='HTTP 404'):
        download(f'{url}/missing.txt', tmp_path/'x.txt', PAYLOAD_SHA256)
    assert _files(tmp_path) == ['www']


def test_unreachable_server_gives_one_clear_error(closed_port, tmp_path, no_data_env):
    with pytest.raises(ConnectionError) as e:
        tinyshakespeare_path(url=f'http://127.0.0.1:{closed_port}/input.txt', cache=tmp_path/'cache')
    msg = str(e.value)
    assert DATA_ENV in msg and "load_corpus('/path/to/input.txt')" in msg and 'Offline?' in msg
    assert e.value.__cause__ is None and e.value.__suppress_context__  # one error, not a chain of tracebacks
    assert _files(tmp_path/'cache') == []


@needs_copy
def test_tinyshakespeare_downloaded_into_the_cache_then_reused(server, closed_port, tmp_path, no_data_env, monkeypatch):
    url, www = server
    (www/'input.txt').write_bytes(SHARED_COPY.read_bytes())
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path/'xdg')); monkeypatch.delenv('TINY_TRANSFORMER_CACHE', raising=False)
    path = tinyshakespeare_path(url=f'{url}/input.txt')
    assert path == tmp_path/'xdg'/'tiny_transformer'/'tinyshakespeare.txt'
    assert data.sha256_file(path) == TINYSHAKESPEARE_SHA256
    # second call: served from the cache, the (now unreachable) network is not needed
    assert tinyshakespeare_path(url=f'http://127.0.0.1:{closed_port}/input.txt') == path
    text = load_corpus('tinyshakespeare')
    assert len(text.encode()) == 1_115_394 and len(set(text)) == 65


@needs_copy
def test_corrupted_cache_is_replaced(server, tmp_path, no_data_env):
    url, www = server
    (www/'input.txt').write_bytes(SHARED_COPY.read_bytes())
    cache = tmp_path/'cache'; cache.mkdir(); (cache/'tinyshakespeare.txt').write_bytes(b'truncated')
    path = tinyshakespeare_path(url=f'{url}/input.txt', cache=cache)
    assert data.sha256_file(path) == TINYSHAKESPEARE_SHA256 and _files(cache) == ['tinyshakespeare.txt']


@needs_copy
def test_corrupted_tinyshakespeare_from_the_server_is_rejected(server, tmp_path, no_data_env):
    url, www = server
    good = SHARED_COPY.read_bytes()
    (www/'input.txt').write_bytes(good[:1000] + good[1000:1001].swapcase() + good[1001:])
    with pytest.raises(ValueError, match='nothing was saved'):
        tinyshakespeare_path(url=f'{url}/input.txt', cache=tmp_path/'cache')
    assert _files(tmp_path/'cache') == []


@needs_copy
def test_local_copy_from_env_var_file_or_folder(tmp_path, monkeypatch, closed_port):
    monkeypatch.setenv(DATA_ENV, str(SHARED_COPY))
    assert tinyshakespeare_path(url=f'http://127.0.0.1:{closed_port}/x') == SHARED_COPY
    folder = tmp_path/'data'; folder.mkdir(); os.symlink(SHARED_COPY, folder/'input.txt')
    monkeypatch.setenv(DATA_ENV, str(folder))
    assert tinyshakespeare_path() == folder/'input.txt'
    assert len(load_corpus('tinyshakespeare')) == 1_115_394


def test_wrong_local_copy_is_rejected(tmp_path, monkeypatch):
    (tmp_path/'input.txt').write_text('not shakespeare', encoding='utf-8')
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    with pytest.raises(ValueError, match='not the tinyshakespeare file'): load_corpus('tinyshakespeare')
