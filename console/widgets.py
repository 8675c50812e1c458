"""A select list rendered in Python: the search form's four selects, as Django renders them by template,
include one template per option (about 40), which was a fifth of the search page's CPU time."""

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join


class PlainSelect(forms.Select):
    """A single select of flat (value, label) choices; same markup as Django's Select."""

    def render(self, name, value, attrs=None, renderer=None) -> str:  # noqa: ANN001
        chosen = "" if value is None else str(value)
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            ((key, " selected" if str(key) == chosen else "", label) for key, label in self.choices),
        )
        return format_html(
            "<select{}>{}</select>", flatatt(self.build_attrs(self.attrs, {**(attrs or {}), "name": name})), options
        )
