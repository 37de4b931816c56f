"""A bridge from stream-al to Label Studio (``stream-al bridge label-studio``, extra
``stream-al[label-studio]``): selected items and expert requests become Label Studio tasks,
annotations come back as labels.

- :mod:`~stream_al.label_studio.tasks`: the pure mapping (items -> tasks in order, the
  labelling config, annotations -> labels or skips); no HTTP, no Kafka.
- :mod:`~stream_al.label_studio.client`: Label Studio's REST API (httpx).
- :mod:`~stream_al.label_studio.bridge`: the shell that joins Kafka and the server.
"""
