"""The loop every driver runs: the coordinator and its parts, on domain records.

The Kafka worker (``stream_al.stream``) and the simulator (``stream_al.simulate``) feed the
same :class:`~stream_al.loop.coordinator.Coordinator` and publish what it returns; nothing here
imports a Kafka client, faust, asyncio, Prometheus or a wire message.
"""
