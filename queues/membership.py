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
