from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from streams.routing import murmur2, partition_for, partitions_for


@given(st.binary(max_size=64))
def test_murmur2_equals_the_kafka_clients(data):
    # aiokafka returns the same 32 bits unsigned; Java (and we) return them signed
    assert murmur2(data) & 0xFFFFFFFF == aiokafka_murmur2(data) & 0xFFFFFFFF


def test_known_java_client_values():
    # values of org.apache.kafka.common.utils.Utils.murmur2 (Kafka's own unit test vectors)
    assert murmur2(b"21") == -973932308
    assert murmur2(b"foobar") == -790332482
    assert murmur2(b"a-little-bit-long-string") == -985981536


@given(st.binary(max_size=32), st.integers(1, 64))
def test_partition_in_range(data, n):
    assert 0 <= partition_for(data, n) < n


@given(st.lists(st.binary(max_size=48), max_size=60), st.integers(1, 64))
def test_the_compiled_batch_hash_routes_every_key_like_the_kafka_partitioner(keys, n):
    assert partitions_for(keys, n) == [partition_for(k, n) for k in keys]
