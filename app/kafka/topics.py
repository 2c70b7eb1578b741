"""The two topics a Vigil cluster uses, created on first use by whichever node comes first."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from app.settings import KafkaSettings


async def ensure_topics(settings: KafkaSettings) -> None:
    """The events topic (CONTRACT.md section 7) and the cluster topic: one partition, so a node's
    records keep their order, and compacted, as only the newest record per key matters to a node
    that starts."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        request_timeout_ms=settings.request_timeout_ms,
    )
    await admin.start()
    try:
        for topic in (
            NewTopic(
                settings.topic,
                num_partitions=settings.partitions,
                replication_factor=settings.replication_factor,
            ),
            NewTopic(
                settings.cluster_topic,
                num_partitions=1,
                replication_factor=settings.replication_factor,
                topic_configs={"cleanup.policy": "compact"},
            ),
        ):
            try:
                await admin.create_topics([topic])
            except TopicAlreadyExistsError:
                continue  # made by another node, or by an earlier run
    finally:
        await admin.close()
