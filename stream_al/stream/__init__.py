"""The Kafka shell: message contracts, topics, the faust app and its agents, and the
``worker``/``produce``/``vendor`` commands. The logic it runs lives in the pure core
(``stream_al.select``, ``stream_al.learn``, ``stream_al.labels``) and in
:class:`stream_al.loop.coordinator.Coordinator`."""
