"""Prometheus metrics: request latency per route (measured in each web process), and the state of the work
(queues, scoring, webhooks, models, Celery) read from the database at scrape time, so every web process
answers the same figures and nothing needs a worker to be reachable.

Labels are route patterns, queue slugs, model version names, Celery queue names and worker process names:
configuration, never content (no item, author or text ever becomes a label).

With several gunicorn processes set ``PROMETHEUS_MULTIPROC_DIR`` (gunicorn.conf.py does): each process writes
its request histograms there and any process's scrape adds them all up.
"""

import logging
import os
from datetime import timedelta

from celery import current_app as celery_app
from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Min, Q
from django.utils import timezone
from django.utils.module_loading import import_string
from kombu.exceptions import KombuError
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector

from intake.models import Item
from learning.models import ModelHealth
from ops.selectors import all_worker_task_counts, beat_age_seconds, fresh_workers
from queues.models import QueueEntry
from webhooks.models import Delivery, WebhookSubscription

logger = logging.getLogger(__name__)

REQUEST_LATENCY = Histogram(
    "moderation_http_request_duration_seconds",
    "Time to answer an HTTP request, per route pattern, method and status class.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

# The lag from commit to score is read over items created this recently (the created_at index serves it).
LAG_WINDOW = timedelta(minutes=15)
LAG_SAMPLE = 20_000


def _quantile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


class WorkStateCollector(Collector):
    """Gauges and counters read from the database (and the broker's queue lengths) when Prometheus scrapes."""

    def collect(self):  # noqa: ANN201 - a generator of metric families, as prometheus_client expects
        up = GaugeMetricFamily(
            "moderation_metrics_source_up", "1 if the scrape could read this source, 0 if not.", labels=["source"]
        )
        try:
            yield from self._review_queues()
            yield from self._scoring()
            yield from self._webhooks()
            yield from self._models()
            yield from self._workers()
            up.add_metric(["database"], 1)
        except DatabaseError as exc:
            logger.warning("metrics: the database could not be read: %s", type(exc).__name__)
            up.add_metric(["database"], 0)
        try:
            yield from self._broker_queues()
            up.add_metric(["broker"], 1)
        except (KombuError, OSError) as exc:
            logger.warning("metrics: the broker could not be read: %s", type(exc).__name__)
            up.add_metric(["broker"], 0)
        yield up

    def _review_queues(self):  # noqa: ANN202
        now = timezone.now()
        depth = GaugeMetricFamily("moderation_queue_depth", "Entries waiting in a review queue.", labels=["queue"])
        claimed = GaugeMetricFamily("moderation_queue_claimed", "Entries a reviewer holds now.", labels=["queue"])
        oldest = GaugeMetricFamily(
            "moderation_queue_oldest_age_seconds", "Age of the oldest waiting entry.", labels=["queue"]
        )
        late = GaugeMetricFamily(
            "moderation_queue_past_deadline", "Waiting or held entries past their deadline.", labels=["queue"]
        )
        open_statuses = [QueueEntry.Status.PENDING, QueueEntry.Status.CLAIMED]
        rows = (
            QueueEntry.objects.filter(status__in=open_statuses)
            .values("queue__slug")
            .annotate(
                waiting=Count("id", filter=Q(status=QueueEntry.Status.PENDING)),
                held=Count("id", filter=Q(status=QueueEntry.Status.CLAIMED)),
                oldest=Min("enqueued_at", filter=Q(status=QueueEntry.Status.PENDING)),
                late=Count("id", filter=Q(deadline_at__lt=now)),
            )
            .order_by()
        )
        for row in rows:
            slug = row["queue__slug"]
            depth.add_metric([slug], row["waiting"])
            claimed.add_metric([slug], row["held"])
            oldest.add_metric([slug], (now - row["oldest"]).total_seconds() if row["oldest"] else 0)
            late.add_metric([slug], row["late"])
        yield from (depth, claimed, oldest, late)

    def _scoring(self):  # noqa: ANN202
        now = timezone.now()
        waiting = [Item.State.RECEIVED, Item.State.SCORING]
        counts = dict(
            Item.objects.filter(state__in=[*waiting, Item.State.FAILED])
            .values_list("state")
            .annotate(n=Count("id"))
            .order_by()
        )
        backlog = GaugeMetricFamily(
            "moderation_scoring_backlog", "Items waiting to be scored, by state.", labels=["state"]
        )
        for state in waiting:
            backlog.add_metric([state], counts.get(state, 0))
        yield backlog
        yield GaugeMetricFamily(
            "moderation_scoring_failed_items", "Items whose scoring failed (they reach reviewers unscored).",
            value=counts.get(Item.State.FAILED, 0),
        )  # fmt: skip
        oldest = Item.objects.filter(state__in=waiting).aggregate(oldest=Min("created_at"))["oldest"]
        yield GaugeMetricFamily(
            "moderation_scoring_oldest_waiting_seconds",
            "Age of the oldest item not scored yet (0 when none waits).",
            value=(now - oldest).total_seconds() if oldest else 0,
        )
        lags = sorted(
            (scored - created).total_seconds()
            for created, scored in Item.objects.filter(created_at__gte=now - LAG_WINDOW, scored_at__isnull=False)
            .order_by("-created_at")
            .values_list("created_at", "scored_at")[:LAG_SAMPLE]
        )
        lag = GaugeMetricFamily(
            "moderation_scoring_lag_seconds",
            f"Commit-to-score time of the items created in the last {int(LAG_WINDOW.total_seconds() // 60)} minutes.",
            labels=["quantile"],
        )
        if lags:
            for q in (0.5, 0.95, 1.0):
                lag.add_metric([str(q)], _quantile(lags, q))
        yield lag

    def _webhooks(self):  # noqa: ANN202
        now = timezone.now()
        counts = dict(
            Delivery.objects.filter(
                state__in=[Delivery.State.PENDING, Delivery.State.DELIVERING, Delivery.State.FAILED]
            )
            .values_list("state")
            .annotate(n=Count("id"))
            .order_by()
        )
        deliveries = GaugeMetricFamily(
            "moderation_webhook_deliveries", "Webhook deliveries not delivered, by state.", labels=["state"]
        )
        for state in (Delivery.State.PENDING, Delivery.State.DELIVERING, Delivery.State.FAILED):
            deliveries.add_metric([state], counts.get(state, 0))
        yield deliveries
        overdue = Delivery.objects.filter(
            state__in=[Delivery.State.PENDING, Delivery.State.DELIVERING], next_attempt_at__lt=now
        ).aggregate(oldest=Min("next_attempt_at"))["oldest"]
        yield GaugeMetricFamily(
            "moderation_webhook_oldest_due_seconds",
            "How long the longest-waiting due delivery has been due (0 when none is).",
            value=(now - overdue).total_seconds() if overdue else 0,
        )
        yield GaugeMetricFamily(
            "moderation_webhook_paused_subscriptions",
            "Subscriptions paused because their endpoint gives no answer.",
            value=WebhookSubscription.objects.filter(paused_until__gt=now).count(),
        )

    def _models(self):  # noqa: ANN202
        alert = GaugeMetricFamily(
            "moderation_model_health_alert",
            "1 while a model version's monitoring is in alert (precision under the floor or drift past the threshold).",
            labels=["version", "kind", "status", "state"],
        )
        precision = GaugeMetricFamily(
            "moderation_model_live_precision", "Live precision at the routing threshold.", labels=["version", "kind"]
        )
        drift = GaugeMetricFamily(
            "moderation_model_drift_psi", "The largest PSI over categories.", labels=["version", "kind"]
        )
        rows = ModelHealth.objects.select_related("model_version").filter(
            model_version__status__in=["active", "shadow", "candidate"]
        )
        health = [
            (row.model_version.name, row.model_version.kind, row.model_version.status, row.state, row.precision,
             row.drift_psi)
            for row in rows
        ]  # fmt: skip
        for source in settings.OPS_MODEL_HEALTH_SOURCES:  # other apps' models (account risk), read by name
            health.extend(import_string(source)())
        for name, kind, status, state, live_precision, psi in health:
            alert.add_metric([name, kind, status, state], 1 if state == ModelHealth.State.ALERT else 0)
            if live_precision is not None:
                precision.add_metric([name, kind], live_precision)
            if psi is not None:
                drift.add_metric([name, kind], psi)
        yield from (alert, precision, drift)

    def _workers(self):  # noqa: ANN202
        processes = GaugeMetricFamily(
            "moderation_celery_worker_processes",
            "Worker processes with a fresh heartbeat, per queue.",
            labels=["queue"],
        )
        ready = GaugeMetricFamily(
            "moderation_celery_models_ready_processes",
            "Worker processes with a fresh heartbeat that have loaded their models, per queue.",
            labels=["queue"],
        )
        workers = fresh_workers()
        queues = sorted({queue for worker in workers for queue in worker.queues} | set(settings.OPS_REQUIRED_QUEUES))
        for queue in queues:
            consumers = [worker for worker in workers if queue in worker.queues]
            processes.add_metric([queue], len(consumers))
            ready.add_metric([queue], sum(1 for worker in consumers if worker.models_ready))
        yield from (processes, ready)
        tasks = CounterMetricFamily(
            "moderation_celery_tasks",
            "Tasks finished per Celery queue and outcome, per worker process since it started.",
            labels=["queue", "outcome", "worker"],
        )
        for worker, counts in all_worker_task_counts():
            for queue, outcomes in counts.items():
                for outcome, value in outcomes.items():
                    tasks.add_metric([queue, outcome, worker], value)
        yield tasks
        age = beat_age_seconds()
        yield GaugeMetricFamily(
            "moderation_beat_last_tick_age_seconds",
            "Seconds since beat's schedule last reached a worker (-1: never).",
            value=-1 if age is None else age,
        )

    def _broker_queues(self):  # noqa: ANN202
        messages = GaugeMetricFamily(
            "moderation_celery_queue_messages", "Messages waiting in the broker, per Celery queue.", labels=["queue"]
        )
        timeout = settings.OPS_CHECK_TIMEOUT_SECONDS
        with celery_app.connection_for_read(connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
            channel = conn.default_channel
            for queue in settings.OPS_BROKER_QUEUES:
                try:
                    size = channel.queue_declare(queue=queue, passive=True).message_count
                except conn.channel_errors:  # not declared yet: nobody sent to it
                    size = 0
                messages.add_metric([queue], size)
        yield messages


def render_metrics() -> bytes:
    """The text exposition of every metric: this process's (or all web processes') and the work state."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        process_registry = CollectorRegistry()
        MultiProcessCollector(process_registry)
    else:
        process_registry = REGISTRY
    work_registry = CollectorRegistry(auto_describe=False)
    work_registry.register(WorkStateCollector())
    return generate_latest(process_registry) + generate_latest(work_registry)
