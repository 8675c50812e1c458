"""How many items a scoring batch may hold, given how many times its items were already claimed.

A worker that dies mid-batch charges an attempt to every item in it, so a "poison" item (one that kills the
worker) would take up to 31 bystanders down with it, three times, until all of them fail. Instead, items
that were in a lost batch are retried in smaller batches of items with the same attempt count, shrinking to
one item for the last attempt: the attempts that end in failure are charged to the item that kills the worker,
and a bystander is scored, alone if need be, before its attempts run out.

With the defaults (batches of 32, 3 attempts): 32 fresh items, then 8, then 1.
"""


def retry_batch_size(*, prior_attempts: int, batch_size: int, max_attempts: int) -> int:
    """The most items of ``prior_attempts`` earlier claims that one batch may hold."""
    if prior_attempts <= 0:
        return batch_size
    if prior_attempts >= max_attempts - 1:
        return 1  # the last attempt: alone, so a crash is charged to this item only
    return max(1, batch_size // 4**prior_attempts)
