"""Signals other apps listen to. classifiers never imports queues, so it announces instead of calling."""

from django.dispatch import Signal

# Sent after the transaction that made a model version active commits; kwargs: version_id, kind.
model_version_activated = Signal()
