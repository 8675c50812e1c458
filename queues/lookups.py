"""Finding a queue by what an API caller names it: its id or its slug."""

from rest_framework import serializers

from api.filters import MAX_ID
from queues.models import Queue


def queue_by_id_or_slug(value: str) -> Queue:
    queue = None
    if value.isdigit() and int(value) <= MAX_ID:
        queue = Queue.objects.filter(pk=int(value)).first()
    queue = queue or Queue.objects.filter(slug=value).first()
    if queue is None:
        raise serializers.ValidationError({"queue": [f"No queue with the id or slug {value!r}."]})
    return queue
