"""Admin pages for training snapshots and retraining runs (models of ``classifiers``; starting a run needs ``queues``).

Both are read-only records: snapshots are immutable, and a run is written by its worker. The run
list has a "Start retraining" button (a POST, audited by the service); a run's page shows its
per-pass training loss as an inline SVG line (no script, no style attribute: the CSP forbids them).
"""

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from classifiers.models import ModelVersion, RetrainingRun, TrainingSnapshot
from learning.retraining import start_retraining

SVG_WIDTH, SVG_HEIGHT = 320, 90


def loss_curve_svg(losses: list[float]) -> SafeString:
    """A polyline of ``losses`` scaled to the box; empty for fewer than two points."""
    if len(losses) < 2:
        return format_html("{}", "—")
    low, high = min(losses), max(losses)
    span = (high - low) or 1.0
    step = SVG_WIDTH / (len(losses) - 1)
    points = " ".join(
        f"{i * step:.1f},{SVG_HEIGHT - 5 - (loss - low) / span * (SVG_HEIGHT - 10):.1f}"
        for i, loss in enumerate(losses)
    )
    return format_html(
        '<svg class="loss-curve" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}">'
        '<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{}"/></svg>',
        SVG_WIDTH,
        SVG_HEIGHT,
        SVG_WIDTH,
        SVG_HEIGHT,
        f"training loss over {len(losses)} passes, from {high:.4f} to {losses[-1]:.4f}",
        points,
    )


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(TrainingSnapshot)
class TrainingSnapshotAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "label_cutoff",
        "item_count",
        "label_count",
        "held_out_count",
        "held_out_source",
    ]
    list_filter = ["held_out_source"]
    fields = [
        "created_at", "created_by", "created_by_label", "label_cutoff", "path", "item_count", "label_count",
        "held_out_count", "held_out_source", "items_sha256", "counts", "file_hashes", "manifest",
    ]  # fmt: skip
    readonly_fields = fields


@admin.register(RetrainingRun)
class RetrainingRunAdmin(ReadOnlyAdmin):
    change_list_template = "admin/classifiers/retrainingrun/change_list.html"
    list_display = [
        "id", "kind", "state", "trigger", "created_at", "started_at", "finished_at", "stage", "passes", "candidate",
        "f1_candidate_vs_active",
    ]  # fmt: skip
    list_filter = ["kind", "state", "trigger"]
    list_select_related = ["candidate"]
    fields = [
        "kind", "state", "trigger", "requested_by", "created_at", "started_at", "finished_at", "attempts", "stage",
        "error", "snapshot", "candidate", "compared_with", "held_out_comparison", "text_encoder", "loss_curve",
        "losses", "metrics",
    ]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="passes")
    def passes(self, run: RetrainingRun) -> int:
        return len(run.epoch_losses)

    @admin.display(description="held-out F1, candidate vs active")
    def f1_candidate_vs_active(self, run: RetrainingRun) -> str:
        candidate, active = run.held_out_f1("candidate"), run.held_out_f1("active")
        return ", ".join(f"{slug} {_fmt(f1)} vs {_fmt(active.get(slug))}" for slug, f1 in candidate.items()) or "—"

    @admin.display(description="held-out metrics (same rows)")
    def held_out_comparison(self, run: RetrainingRun) -> SafeString:
        candidate = (run.metrics.get("candidate") or {}).get("held_out") or {}
        active = (run.metrics.get("active") or {}).get("held_out") or {}
        if not candidate:
            return format_html("{}", "—")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    slug,
                    _fmt(row.get("f1")),
                    _fmt((active.get(slug) or {}).get("f1")),
                    _fmt(row.get("roc_auc")),
                    _fmt((active.get(slug) or {}).get("roc_auc")),
                    _fmt(row.get("ece")),
                    "{positives}+ / {negatives}-".format(**row["support"]),
                )
                for slug, row in candidate.items()
            ),
        )
        return format_html(
            "<p>{} held-out items ({}), {} training items.</p><table><thead><tr><th>category</th><th>F1 candidate</th>"
            "<th>F1 active</th><th>ROC-AUC candidate</th><th>ROC-AUC active</th><th>ECE candidate</th>"
            "<th>support</th></tr></thead><tbody>{}</tbody></table>",
            run.metrics.get("held_out_rows"),
            run.metrics.get("held_out_source"),
            run.metrics.get("train_rows"),
            rows,
        )

    @admin.display(description="text encoder")
    def text_encoder(self, run: RetrainingRun) -> str:
        """Whether the run tuned the encoder's last layer (``RETRAIN_TEXT_TUNE_MIN_LABELS``), and how it went."""
        if run.kind != ModelVersion.Kind.TEXT:
            return "—"
        tuning = run.metrics.get("text_tuning")
        if not tuning:
            return "packaged (not tuned)" if run.metrics else "—"
        losses = ", ".join(f"{loss:.4f}" for loss in tuning.get("losses", []))
        layers = tuning.get("layers", 1)
        which = "last layer" if layers == 1 else f"last {layers} layers"
        texts = f" on {tuning['texts']:,} texts" if "texts" in tuning else ""  # recorded since session 17
        return (
            f"{which} tuned{texts}: {tuning['epochs']:g} epochs, {tuning['cpu_seconds']:.0f} CPU s, loss per epoch "
            f"{losses}; space {tuning['backbone']}"
        )

    @admin.display(description="training loss per pass")
    def loss_curve(self, run: RetrainingRun) -> SafeString:
        return loss_curve_svg(run.epoch_losses)

    @admin.display(description="losses")
    def losses(self, run: RetrainingRun) -> str:
        return ", ".join(f"{loss:.4f}" for loss in run.epoch_losses) or "—"

    def get_urls(self):  # noqa: ANN201 - a list of URL patterns
        start = path("start/", self.admin_site.admin_view(self.start_view), name="classifiers_retrainingrun_start")
        return [start, *super().get_urls()]

    def start_view(self, request: HttpRequest) -> HttpResponseRedirect | HttpResponseNotAllowed:
        """POST: queue a retraining of the text (default) or image model (``kind``), as this admin (audited)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        changelist = reverse("admin:classifiers_retrainingrun_changelist")
        if not request.user.has_perm("classifiers.add_retrainingrun"):
            self.message_user(request, "You may not start retraining.", level=messages.ERROR)
            return HttpResponseRedirect(changelist)
        kind = request.POST.get("kind", ModelVersion.Kind.TEXT)
        if kind not in ModelVersion.Kind.values:
            self.message_user(request, f"Unknown model kind {kind!r}.", level=messages.ERROR)
            return HttpResponseRedirect(changelist)
        run, created = start_retraining(trigger=RetrainingRun.Trigger.ADMIN, actor=request.user, kind=kind)
        if created:
            self.message_user(request, f"Retraining run {run.pk} queued on the training workers.")
        else:
            self.message_user(request, f"Run {run.pk} is already {run.get_state_display().lower()}.", messages.WARNING)
        return HttpResponseRedirect(changelist)
