"""A tiny Kafka protocol client that asks a broker whether it is ready to serve clients.

Readiness means the broker answers a Metadata request and lists at least one live broker: in KRaft
mode that happens only after the node has registered with its controller and been unfenced, so a
client connecting afterwards can create topics and join groups at once. A plain socket keeps this
light (no aiokafka import, no event loop) and lets ``start`` poll every few hundred milliseconds.

Wire format (Kafka protocol guide): every request is a big-endian int32 size followed by a header
(api_key int16, api_version int16, correlation_id int32, client_id string) and a body; every
response is an int32 size, the correlation id and the body. We use only non-flexible versions:
ApiVersions v0 (supported by every broker, used to pick a version) and Metadata v4..v8 (Kafka 4.0
removed v0..v3; v9 and later use the flexible encoding).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from streams.errors import BrokerError

#: Kafka API keys used here.
API_METADATA = 3
API_VERSIONS = 18

#: The non-flexible Metadata versions whose broker list we can parse identically.
METADATA_VERSIONS = range(4, 9)

#: Client id sent in request headers, visible in broker request logs.
CLIENT_ID = b"tunggal-probe"

#: A response larger than this is not a reply to our tiny requests.
MAX_RESPONSE_BYTES = 16 * 1024 * 1024


class ProbeError(BrokerError):
    """The peer did not answer like a ready Kafka broker."""


@dataclass(frozen=True, slots=True)
class ClusterView:
    """What the probe learnt: the cluster id and the live brokers as ``(node_id, host, port)``."""

    cluster_id: str | None
    brokers: tuple[tuple[int, str, int], ...]


def encode_request(api_key: int, api_version: int, correlation_id: int, body: bytes) -> bytes:
    """Frame a request with header v1 (the non-flexible header with a client id)."""
    header = struct.pack(">hhih", api_key, api_version, correlation_id, len(CLIENT_ID)) + CLIENT_ID
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def api_versions_request(correlation_id: int) -> bytes:
    """ApiVersions v0: an empty body."""
    return encode_request(API_VERSIONS, 0, correlation_id, b"")


def metadata_request(version: int, correlation_id: int) -> bytes:
    """Metadata v4..v8 for no topics (an empty, non-null topic array) without auto-creation."""
    if version not in METADATA_VERSIONS:
        raise ValueError(f"unsupported Metadata version {version}")
    body = struct.pack(">i", 0) + b"\x00"  # topics: empty array; allow_auto_topic_creation: false
    if version >= 8:
        body += b"\x00\x00"  # include_cluster/topic_authorized_operations: false
    return encode_request(API_METADATA, version, correlation_id, body)


class _Reader:
    """Sequential big-endian reads over one response body."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ProbeError("truncated response from broker")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def int16(self) -> int:
        return self.take(">h")[0]

    def int32(self) -> int:
        return self.take(">i")[0]

    def nullable_string(self) -> str | None:
        length = self.int16()
        if length < 0:
            return None
        if self.pos + length > len(self.data):
            raise ProbeError("truncated string in broker response")
        text = self.data[self.pos : self.pos + length].decode("utf-8")
        self.pos += length
        return text


def parse_api_versions(body: bytes) -> dict[int, tuple[int, int]]:
    """ApiVersions v0 response body -> ``{api_key: (min_version, max_version)}``."""
    reader = _Reader(body)
    error_code = reader.int16()
    if error_code != 0:
        raise ProbeError(f"ApiVersions failed with error code {error_code}")
    versions = {}
    for _ in range(reader.int32()):
        key, low, high = reader.take(">hhh")
        versions[key] = (low, high)
    return versions


def choose_metadata_version(versions: dict[int, tuple[int, int]]) -> int:
    """The lowest version in METADATA_VERSIONS that the broker supports."""
    low, high = versions.get(API_METADATA, (0, -1))
    for version in METADATA_VERSIONS:
        if low <= version <= high:
            return version
    raise ProbeError(f"broker supports Metadata v{low}..v{high}, none of v4..v8")


def parse_metadata(body: bytes) -> ClusterView:
    """The leading fields of a Metadata v4..v8 response body: brokers and cluster id."""
    reader = _Reader(body)
    reader.int32()  # throttle_time_ms
    brokers = []
    for _ in range(reader.int32()):
        node_id = reader.int32()
        host = reader.nullable_string() or ""
        port = reader.int32()
        reader.nullable_string()  # rack
        brokers.append((node_id, host, port))
    cluster_id = reader.nullable_string()
    return ClusterView(cluster_id=cluster_id, brokers=tuple(brokers))


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ProbeError("broker closed the connection")
        chunks += chunk
    return bytes(chunks)


def _round_trip(sock: socket.socket, request: bytes, correlation_id: int) -> bytes:
    sock.sendall(request)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    if not 4 <= size <= MAX_RESPONSE_BYTES:
        raise ProbeError(f"implausible response size {size}: not a Kafka broker?")
    payload = _recv_exact(sock, size)
    (got,) = struct.unpack_from(">i", payload)
    if got != correlation_id:
        raise ProbeError(f"correlation id {got} != {correlation_id}: not a Kafka broker?")
    return payload[4:]


def probe(host: str, port: int, timeout: float = 2.0) -> ClusterView:
    """Ask the broker at ``host:port`` for its metadata; raise OSError or ProbeError if not ready.

    Ready means at least one live broker is listed.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        versions = parse_api_versions(_round_trip(sock, api_versions_request(1), 1))
        version = choose_metadata_version(versions)
        view = parse_metadata(_round_trip(sock, metadata_request(version, 2), 2))
    if not view.brokers:
        raise ProbeError("broker answers but lists no live brokers yet")
    return view


def is_ready(host: str, port: int, timeout: float = 2.0) -> bool:
    """True when ``probe`` succeeds."""
    try:
        probe(host, port, timeout)
    except (OSError, ProbeError):
        return False
    return True
