"""Search and lists over items and authors, limited to the queues the user may see.

On PostgreSQL the text is matched with full-text search (``to_tsvector('simple', text)``, kept in a
column ``search_vector`` with a GIN index, both added by the console's migrations and filled once the item
is routed or decided) and author handles with trigrams (``pg_trgm``); on SQLite, the embedded default, the same search
is a plain case-insensitive substring match.
Identifiers (item id, external id, ticket id, author id or handle) match exactly, on either database.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.postgres.search import SearchQuery, SearchVectorField
from django.db import connection
from django.db.models import BooleanField, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL
from django.db.models.functions import Left
from django.utils import timezone

from classifiers.models import ModelVersion, Score
from intake.models import Author, Item
from labeling.models import CrowdAssignment, Labeler, LLMResult
from queues.membership import queues_for
from queues.models import Decision, Queue, QueueEntry
from review.models import Label

PAGE_SIZE = 50
# Text search config: 'simple' does no stemming, so it works for every language the items come in.
TEXT_SEARCH_CONFIG = "simple"


@dataclass(frozen=True)
class Viewer:
    """Who is looking, read once per request: ``queue_ids`` are the queues they may see, None for every queue."""

    user: AbstractBaseUser
    queue_ids: frozenset[int] | None
    queues: tuple[Queue, ...] = ()  # the queues they may see, by name: read with the ids, in the same query

    @property
    def sees_every_queue(self) -> bool:
        return self.queue_ids is None


def viewer_for(user: AbstractBaseUser) -> Viewer:
    """Superusers (admins) see every queue; everyone else the queues they are a member of."""
    if user.is_superuser:
        return Viewer(user=user, queue_ids=None, queues=tuple(Queue.objects.order_by("name")))
    queues = tuple(Queue.objects.filter(pk__in=queues_for(user).values("pk")).order_by("name"))
    return Viewer(user=user, queue_ids=frozenset(q.pk for q in queues), queues=queues)


def visible_queues(viewer: Viewer) -> QuerySet[Queue]:
    queues = Queue.objects.all()
    return queues if viewer.sees_every_queue else queues.filter(pk__in=viewer.queue_ids)


def visible_items(viewer: Viewer, *, before: int | None = None) -> QuerySet[Item]:
    """Items that have been in at least one queue the viewer may see (an admin: every item); below ``before``."""
    items = Item.objects.all() if before is None else Item.objects.filter(pk__lt=before)
    if viewer.sees_every_queue:
        return items
    entries = QueueEntry.objects.filter(item_id=OuterRef("pk"), queue_id__in=viewer.queue_ids)
    if before is not None:
        # Redundant for the result, but PostgreSQL's merge join then starts both index walks at ``before``
        # instead of walking the entries down from the newest (290 ms for a page at 400,000 of 1M items).
        entries = entries.filter(item_id__lt=before)
    return items.filter(Exists(entries))


def invisible_item_ids(viewer: Viewer, item_ids: Iterable[int]) -> list[int]:
    """Those of ``item_ids`` the viewer may not see (or that do not exist), sorted."""
    wanted = set(item_ids)
    seen = set(visible_items(viewer).filter(pk__in=wanted).values_list("pk", flat=True))
    return sorted(wanted - seen)


def _text_match(text: str, *, unrouted: bool) -> Q:
    """Items whose text holds the words of ``text``, or whose identifiers equal it; ``unrouted``: items still being
    scored too (only admins can see those: the others see items through the queues they were routed to)."""
    # Matching authors are looked up first, so each branch of the OR is a plain indexed condition on the
    # item table that PostgreSQL can combine in one bitmap scan (a join inside an OR cannot be).
    # Identifiers hold no spaces: a phrase skips the author lookup.
    authors = (
        []
        if any(c.isspace() for c in text)
        else list(
            Author.objects.filter(Q(external_id=text) | Q(handle__iexact=text)).values_list("pk", flat=True)[:100]
        )
    )
    ids = Q(external_id=text) | Q(ticket_id=text) | Q(author_id__in=authors)
    if text.isdigit() and len(text) < 19:
        ids |= Q(pk=int(text))
    if connection.vendor == "postgresql":
        indexed = ids | Q(search_vector=SearchQuery(text, config=TEXT_SEARCH_CONFIG, search_type="websearch"))
        return indexed | Q(_unindexed_items_matching(text)) if unrouted else indexed
    return ids | Q(text__icontains=text)


def _unindexed_items_matching(text: str) -> RawSQL:
    """Items without a search vector yet (being scored: console migration 0009) whose text matches, as
    ``id = ANY(ARRAY(...))``: PostgreSQL reads the array once, through the partial index of those items, and
    then either probes it per item walked or adds it to the bitmap scan of the other conditions. The same test
    written per row made the planner cost every item's ``to_tsvector`` (NULL vectors are rare, it cannot know)
    and choose a parallel plan that took longer (bench/RESULTS.md, session 12)."""
    table = Item._meta.db_table
    return RawSQL(
        f"{table}.id = ANY(ARRAY(SELECT unindexed.id FROM {table} unindexed WHERE unindexed.search_vector IS NULL "
        f"AND to_tsvector(%s::regconfig, COALESCE(unindexed.text, '')) @@ websearch_to_tsquery(%s::regconfig, %s)))",
        [TEXT_SEARCH_CONFIG, TEXT_SEARCH_CONFIG, text],
        output_field=BooleanField(),
    )


@dataclass(frozen=True)
class LabelSource:
    """Where one kind of labeler's labels are kept: ``rows`` filtered to the labeler, ``item`` their item column."""

    rows: QuerySet
    item: str


def _label_sources(kind: str, name: str) -> list[LabelSource]:
    """The labels of the labeler ``name`` of ``kind`` (see forms.parse_labeler), one source per kind.

    A moderator's labels are review's (their decisions' labels, and a senior's QA relabels); a crowd worker's
    are their answered assignments; an LLM labeler's are its finished results (``labeling.models``).
    """
    sources = []
    if kind == Labeler.Kind.MODERATOR:
        sources.append(LabelSource(Label.objects.filter(reviewer__username=name), "item_id"))
    if kind == Labeler.Kind.CROWD:
        answered = CrowdAssignment.objects.filter(labeler__username=name, answered_at__isnull=False).exclude(answer="")
        sources.append(LabelSource(answered, "task__item_id"))
    if kind == Labeler.Kind.LLM:
        sources.append(LabelSource(LLMResult.objects.filter(labeler__name=name, state=LLMResult.State.DONE), "item_id"))
    return sources


def _labelled_by(criteria) -> Q:  # noqa: ANN001
    """Items the criteria's labeler labelled: an Exists per source, so the page stays one query."""
    match = Q()
    for source in _label_sources(criteria.labeler_kind, criteria.labeler_name):
        match |= Exists(source.rows.filter(**{source.item: OuterRef("pk")}))
    return match


def _day_start(day) -> datetime:  # noqa: ANN001 - a date
    return timezone.make_aware(datetime.combine(day, time.min))


def filtered_items(viewer: Viewer, criteria, *, before: int | None = None) -> QuerySet[Item]:  # noqa: ANN001
    """Every item the viewer may see that matches ``criteria`` (a forms.SearchCriteria), below ``before``, newest
    first. Not yet sliced."""
    items = visible_items(viewer, before=before)
    if criteria.text:
        if connection.vendor == "postgresql":
            # The stored column the console's migrations add (PostgreSQL only, so not a model field): testing a
            # stored tsvector is cheap enough for PostgreSQL to walk the newest items and stop at a page.
            items = items.annotate(
                search_vector=RawSQL(f"{Item._meta.db_table}.search_vector", [], SearchVectorField())
            )
        items = items.filter(_text_match(criteria.text, unrouted=viewer.sees_every_queue))
    if criteria.state:
        items = items.filter(state=criteria.state)
    if criteria.author_id:
        items = items.filter(author_id=criteria.author_id)
    if criteria.created_from:
        items = items.filter(created_at__gte=_day_start(criteria.created_from))
    if criteria.created_to:
        items = items.filter(created_at__lt=_day_start(criteria.created_to) + timezone.timedelta(days=1))
    entries = QueueEntry.objects.filter(item_id=OuterRef("pk"))
    if criteria.queue_id:
        entries = entries.filter(queue_id=criteria.queue_id)
    if criteria.risk_min is not None or criteria.risk_max is not None:
        # Risk belongs to an item's stay in a queue: the open one.
        entries = entries.filter(status__in=[QueueEntry.Status.PENDING, QueueEntry.Status.CLAIMED])
        if criteria.risk_min is not None:
            entries = entries.filter(risk__gte=criteria.risk_min)
        if criteria.risk_max is not None:
            entries = entries.filter(risk__lte=criteria.risk_max)
    if criteria.queue_id or criteria.risk_min is not None or criteria.risk_max is not None:
        items = items.filter(Exists(entries))
    if criteria.category or criteria.score_min is not None or criteria.score_max is not None:
        # A score range without a category: any category's active score in it.
        scores = Score.objects.filter(item_id=OuterRef("pk"), model_version__status=ModelVersion.Status.ACTIVE)
        if criteria.category:
            scores = scores.filter(category__slug=criteria.category)
        if criteria.score_min is not None:
            scores = scores.filter(probability__gte=criteria.score_min)
        if criteria.score_max is not None:
            scores = scores.filter(probability__lte=criteria.score_max)
        items = items.filter(Exists(scores))
    if criteria.decision or criteria.reviewer:
        decisions = Decision.objects.filter(item_id=OuterRef("pk"))
        if criteria.decision:
            decisions = decisions.filter(action=criteria.decision)
        if criteria.reviewer:
            decisions = decisions.filter(reviewer__username=criteria.reviewer)
        items = items.filter(Exists(decisions))
    if criteria.labeler_name:
        items = items.filter(_labelled_by(criteria))
    return items.order_by("-pk")


def _driver(criteria) -> LabelSource | None:  # noqa: ANN001
    """The rows whose newest item ids lead a page to its items (see ``_page_through``), or None to walk the items.

    Every matching item must have such a row: decisions when the criteria ask for one, else the labeler's labels.
    """
    if criteria.decision or criteria.reviewer:
        return LabelSource(_matching_decisions(criteria), "item_id")
    if criteria.labeler_name:
        [source] = _label_sources(criteria.labeler_kind, criteria.labeler_name)
        return source
    return None


def _matching_decisions(criteria) -> QuerySet[Decision]:  # noqa: ANN001
    decisions = Decision.objects.filter(item__isnull=False)  # an account case's decision finds no item
    if criteria.decision:
        decisions = decisions.filter(action=criteria.decision)
    if criteria.reviewer:
        decisions = decisions.filter(reviewer__username=criteria.reviewer)
    return decisions


# Decisions read per step when a page is driven by its decisions (see ``_page_through``).
DECISION_WINDOW = 2000
DECISION_WINDOWS = 5
# The first window, in pages: enough when the viewer may see a fair share of the matching decisions.
FIRST_WINDOW_PAGES = 4


def _page_through(items: QuerySet, driver: LabelSource, before: int | None, size: int) -> list:
    """A page of ``items`` found through the newest rows of ``driver`` (decisions or labels), window by window.

    Walking the newest items and testing each for a matching decision is slow when recent items are not
    decided yet (every pending item is passed over): here the decisions' (action, item) or (reviewer, item)
    index gives the newest decided items directly, and the item filters run on those only. The same holds for
    a labeler's labels ((reviewer, item) and (labeler, item) indexes, console migration 0007).
    """
    item = driver.item
    # Most pages come from a first small window (the newest few matching decisions), asked as a subquery in
    # one round trip: a window of 2,000 took 47 ms where 200 take 5 (1M items, a reviewer with 700,000).
    first = driver.rows
    if before is not None:
        first = first.filter(**{f"{item}__lt": before})
    first_window = first.order_by(f"-{item}").values(item)[: FIRST_WINDOW_PAGES * (size + 1)]
    page = list(items.filter(pk__in=first_window)[: size + 1])
    if len(page) > size:
        return page
    found: list = []
    ceiling = before
    for _ in range(DECISION_WINDOWS):
        window = driver.rows
        if ceiling is not None:
            window = window.filter(**{f"{item}__lt": ceiling})
        item_ids = list(window.order_by(f"-{item}").values_list(item, flat=True)[:DECISION_WINDOW])
        found += items.filter(pk__in=set(item_ids))[: size + 1 - len(found)]
        if len(found) > size or len(item_ids) < DECISION_WINDOW:
            return found
        ceiling = item_ids[-1]  # every decided item from here up was in this window or an earlier one
    # The other filters rarely hold on decided items: the plain query finishes the page.
    return found + list(items.filter(pk__lt=ceiling)[: size + 1 - len(found)])


# Characters of an item's text a result row shows; the database cuts it, so a long text is not read whole.
SNIPPET_LENGTH = 140


@dataclass(frozen=True, slots=True)
class ItemRow:
    """One result: only what the list shows, read in the page's one query."""

    pk: int
    source: str
    external_id: str
    ticket_id: str
    snippet: str  # the text's start, at most SNIPPET_LENGTH characters and an ellipsis
    state: str
    created_at: datetime
    author_handle: str
    queue_name: str  # of the open queue entry; empty when the item waits in no queue
    risk: float | None
    last_decision: str  # the newest decision's action, as a label; empty when undecided

    @property
    def state_label(self) -> str:
        return Item.State(self.state).label


@dataclass(frozen=True)
class ItemPage:
    rows: list[ItemRow]
    next_before: int | None  # the ``before`` of the next page, None on the last one


ROW_FIELDS = ("pk", "source", "external_id", "ticket_id", "cut_text", "state", "created_at", "author__handle")


def _page_columns(items: QuerySet[Item]) -> QuerySet:
    """The page's columns only, with the open entry's queue and risk and the last decision as subqueries: one
    round trip instead of three, and PostgreSQL evaluates the subqueries for the page's rows only."""
    open_entry = QueueEntry.objects.filter(
        item_id=OuterRef("pk"), status__in=[QueueEntry.Status.PENDING, QueueEntry.Status.CLAIMED]
    ).order_by("-pk")
    last_decision = Decision.objects.filter(item_id=OuterRef("pk")).order_by("-created_at", "-pk")
    return items.annotate(
        cut_text=Left("text", SNIPPET_LENGTH + 1),
        open_queue=Subquery(open_entry.values("queue__name")[:1]),
        open_risk=Subquery(open_entry.values("risk")[:1]),
        last_action=Subquery(last_decision.values("action")[:1]),
    ).values_list(*ROW_FIELDS, "open_queue", "open_risk", "last_action")


def _row(values: tuple) -> ItemRow:
    pk, source, external_id, ticket_id, text, state, created_at, handle, queue_name, risk, action = values
    return ItemRow(
        pk=pk,
        source=source,
        external_id=external_id,
        ticket_id=ticket_id,
        snippet=text if len(text) <= SNIPPET_LENGTH else text[: SNIPPET_LENGTH - 1] + "…",
        state=state,
        created_at=created_at,
        author_handle=handle or "",
        queue_name=queue_name or "",
        risk=risk,
        last_decision=DECISION_LABELS.get(action, "") if action else "",
    )


DECISION_LABELS = dict(Decision.Action.choices)


def search_items(*, viewer: Viewer, criteria, before: int | None = None, size: int = PAGE_SIZE) -> ItemPage:  # noqa: ANN001
    """One page of matching items, newest first; ``before`` is the keyset (an item id) of the page."""
    items = _page_columns(filtered_items(viewer, criteria, before=before))
    driver = _driver(criteria)
    page = _page_through(items, driver, before, size) if driver else list(items[: size + 1])
    more = len(page) > size
    rows = [_row(values) for values in page[:size]]
    return ItemPage(rows=rows, next_before=rows[-1].pk if more else None)


def search_authors(*, viewer: Viewer, text: str, limit: int = 10) -> list[Author]:
    """Authors whose handle contains ``text`` or whose id equals it, who posted an item the viewer may see."""
    if not text:
        return []
    # icontains is UPPER(handle) LIKE UPPER('%text%'): on PostgreSQL the trigram index on UPPER(handle) serves it.
    authors = Author.objects.filter(Q(handle__icontains=text) | Q(external_id=text))
    if not viewer.sees_every_queue:
        authors = authors.filter(Exists(visible_items(viewer).filter(author_id=OuterRef("pk"))))
    return list(authors.order_by("handle", "pk")[:limit])
