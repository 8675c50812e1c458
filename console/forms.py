"""The search page's fields: parsed and checked here, so a bad value (or a saved filter gone stale) is named."""

from dataclasses import dataclass
from datetime import date

from django import forms

from classifiers.models import PolicyCategory
from console.widgets import PlainSelect
from intake.models import Item
from labeling.models import Labeler
from queues.models import Decision

MAX_QUERY_LENGTH = 200


@dataclass(frozen=True)
class SearchCriteria:
    """A parsed search: every field optional; the selectors read only these plain values."""

    text: str = ""
    queue_id: int | None = None
    state: str = ""
    category: str = ""
    score_min: float | None = None
    score_max: float | None = None
    risk_min: float | None = None
    risk_max: float | None = None
    created_from: date | None = None
    created_to: date | None = None
    decision: str = ""
    reviewer: str = ""
    author_id: int | None = None
    # The labeler filter: kind is moderator, crowd or llm (empty: no labeler filter).
    labeler_kind: str = ""
    labeler_name: str = ""

    @property
    def is_empty(self) -> bool:
        return self == SearchCriteria()


# A labeler is named as the labeler table names it ("moderator:ana", "crowd:bo", "llm:<model>:spam:v2").
LABELER_PREFIXES = {f"{kind}:": kind for kind in (Labeler.Kind.MODERATOR, Labeler.Kind.CROWD, Labeler.Kind.LLM)}


def parse_labeler(value: str) -> tuple[str, str]:
    """(kind, name) of a labeler as typed; ("", "") for none. Raises ValidationError."""
    value = value.strip()
    for prefix, kind in LABELER_PREFIXES.items():
        if value.startswith(prefix):
            # An LLM labeler's name keeps its prefix (it is the Labeler row's name); a person's is their username.
            name = value if kind == Labeler.Kind.LLM else value[len(prefix) :].strip()
            if not value[len(prefix) :].strip():
                raise forms.ValidationError(f"Name the labeler after “{prefix}”.")
            return kind, name
    if value:
        # A bare name would be two kinds of labels at once, which no index leads to: walking every item for it
        # took 10-14 s over 1,000,000 items (bench/RESULTS.md, issue 19). The kind is asked for instead.
        raise forms.ValidationError("Start with moderator:, crowd: or llm: (as the labeler table names them).")
    return "", value


def _blank_choice(choices: list[tuple[str, str]], label: str) -> list[tuple[str, str]]:
    return [("", label), *choices]


class SearchForm(forms.Form):
    """Every filter of the search page. ``queues`` are the ones the user may see (the queue filter's choices)."""

    q = forms.CharField(required=False, max_length=MAX_QUERY_LENGTH, label="Search")
    queue = forms.ChoiceField(required=False, widget=PlainSelect)
    state = forms.ChoiceField(
        required=False, choices=_blank_choice(Item.State.choices, "any state"), widget=PlainSelect
    )
    category = forms.ChoiceField(required=False, widget=PlainSelect)
    score_min = forms.FloatField(required=False, min_value=0, max_value=1, label="score ≥")
    score_max = forms.FloatField(required=False, min_value=0, max_value=1, label="score ≤")
    risk_min = forms.FloatField(required=False, min_value=0, label="risk ≥")
    risk_max = forms.FloatField(required=False, min_value=0, label="risk ≤")
    created_from = forms.DateField(required=False, label="from", widget=forms.DateInput(attrs={"type": "date"}))
    created_to = forms.DateField(required=False, label="to", widget=forms.DateInput(attrs={"type": "date"}))
    decision = forms.ChoiceField(
        required=False, choices=_blank_choice(Decision.Action.choices, "any decision"), widget=PlainSelect
    )
    reviewer = forms.CharField(required=False, max_length=150, label="decided by")
    labeler = forms.CharField(
        required=False,
        max_length=200,
        label="labelled by",
        help_text="A username, or a labeler as the labeler table names it: moderator:…, crowd:…, llm:…",
    )
    author = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, queues=(), categories=None, ordered_ranges=True, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        super().__init__(*args, **kwargs)
        # The page says "to" must not be below "from"; the API answers a reversed range with no rows, since a
        # schema cannot state an order between two parameters.
        self.ordered_ranges = ordered_ranges
        self.fields["queue"].choices = _blank_choice([(q.slug, q.name) for q in queues], "any of my queues")
        self._queue_ids = {q.slug: q.pk for q in queues}
        if categories is None:
            categories = PolicyCategory.objects.filter(is_active=True)
        self.fields["category"].choices = _blank_choice([(c.slug, c.name) for c in categories], "any category")

    def clean_labeler(self) -> tuple[str, str]:
        return parse_labeler(self.cleaned_data["labeler"])

    def clean(self) -> dict:
        data = super().clean()
        for low, high in (("score_min", "score_max"), ("risk_min", "risk_max"), ("created_from", "created_to")):
            if not self.ordered_ranges:
                break
            if data.get(low) is not None and data.get(high) is not None and data[low] > data[high]:
                self.add_error(high, f"Must not be below {self.fields[low].label}.")
        return data

    def criteria(self) -> SearchCriteria:
        """The parsed search; call only after ``is_valid()``."""
        data = self.cleaned_data
        return SearchCriteria(
            text=data["q"].strip(),
            queue_id=self._queue_ids.get(data["queue"]),
            state=data["state"],
            category=data["category"],
            score_min=data["score_min"],
            score_max=data["score_max"],
            risk_min=data["risk_min"],
            risk_max=data["risk_max"],
            created_from=data["created_from"],
            created_to=data["created_to"],
            decision=data["decision"],
            reviewer=data["reviewer"].strip(),
            author_id=data["author"],
            labeler_kind=data["labeler"][0],
            labeler_name=data["labeler"][1],
        )


def filter_params(form: SearchForm) -> dict[str, str]:
    """The non-empty fields as submitted: what a saved filter keeps, and what links carry."""
    return {name: str(value) for name, value in form.data.items() if name in form.fields and str(value).strip()}
