"""Who works which queue: a queue's members and the members of its groups."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q

from api.exceptions import Forbidden
from queues.models import Queue


class NotAMember(Forbidden):
    """The user may not work this queue (HTTP 403)."""

    code = "not_a_member"


def queues_for(user: AbstractBaseUser):  # noqa: ANN201 - a QuerySet[Queue]
    """The queues ``user`` may work: direct membership or through a group."""
    return Queue.objects.filter(Q(members=user) | Q(member_groups__user=user)).distinct()


def ensure_member(user: AbstractBaseUser, queue: Queue) -> None:
    if not queues_for(user).filter(pk=queue.pk).exists():
        raise NotAMember(f"You are not a member of the queue {queue.name!r}.")


def is_member_sql(queue_column: str, user_param: str) -> str:
    """``queues_for`` as an SQL condition on ``queue_column`` for a hand-written statement (PostgreSQL and
    SQLite): the user named by the placeholder ``user_param`` is a member directly or through a group."""
    members, groups = Queue.members.field, Queue.member_groups.field
    user_groups = members.related_model.groups.field
    return (
        f"(EXISTS (SELECT 1 FROM {members.m2m_db_table()} m WHERE m.{members.m2m_column_name()} = {queue_column}"
        f" AND m.{members.m2m_reverse_name()} = {user_param})"
        f" OR EXISTS (SELECT 1 FROM {groups.m2m_db_table()} g JOIN {user_groups.m2m_db_table()} ug"
        f" ON ug.{user_groups.m2m_reverse_name()} = g.{groups.m2m_reverse_name()}"
        f" WHERE g.{groups.m2m_column_name()} = {queue_column} AND ug.{user_groups.m2m_column_name()} = {user_param}))"
    )
