"""The Kafka shell: message contracts, topics, the faust app and its agents, and the
``worker``/``produce``/``vendor`` commands. The logic it runs is the pure core
(:class:`stream_al.loop.coordinator.Coordinator` and what it holds); wire records are converted
to the core's domain records and back in ``stream_al/stream/conversion.py``."""
