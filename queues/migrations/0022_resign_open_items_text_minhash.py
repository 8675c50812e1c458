"""Re-sign the texts of items waiting in a queue with the text MinHash's new 5-gram hash.

Routing compares an arriving item's signature with those of items that have an open entry, through their shared
band keys. The 5-gram hash changed (``queues.near_duplicates._shingle_hashes``: numpy instead of a SHA-1 per
5-gram), so a signature stored before this migration agrees with a new one only by chance: without re-signing,
no new near-duplicate would join an old waiting item's group until that item is reviewed. Items without an open
entry are not compared any more (routing one again signs it again). Not reversible: the old hash is gone with the
old code, whose routing re-signs any item it routes.
"""

from django.db import migrations

CHUNK = 1000


def resign(apps, schema_editor):
    Item = apps.get_model("intake", "Item")
    ItemSignature = apps.get_model("queues", "ItemSignature")
    NearDuplicateKey = apps.get_model("queues", "NearDuplicateKey")
    QueueEntry = apps.get_model("queues", "QueueEntry")
    waiting = QueueEntry.objects.filter(status__in=["pending", "claimed"], item__isnull=False).values("item_id")
    rows = Item.objects.filter(pk__in=waiting).exclude(text="").order_by("pk").values_list("pk", "text")
    batch: list[tuple[int, str]] = []
    for row in rows.iterator(chunk_size=CHUNK):
        batch.append(row)
        if len(batch) == CHUNK:
            _resign(batch, ItemSignature, NearDuplicateKey)
            batch = []
    _resign(batch, ItemSignature, NearDuplicateKey)


def _resign(batch, ItemSignature, NearDuplicateKey) -> None:  # noqa: ANN001, N803 - historical models
    # The signature functions are pure (no models); their current version is the one this migration must apply.
    from queues.near_duplicates import text_band_keys, text_minhash

    signatures = {pk: text_minhash(text) for pk, text in batch}
    # Text band keys are the non-negative ones (image keys have the top bit set: near_duplicates.image_band_keys).
    NearDuplicateKey.objects.filter(item_id__in=list(signatures), key__gte=0).delete()
    ItemSignature.objects.filter(item_id__in=list(signatures)).delete()
    signed = {pk: signature for pk, signature in signatures.items() if signature is not None}
    ItemSignature.objects.bulk_create([ItemSignature(item_id=pk, text_minhash=sig) for pk, sig in signed.items()])
    NearDuplicateKey.objects.bulk_create(
        [NearDuplicateKey(item_id=pk, key=key) for pk, sig in signed.items() for key in text_band_keys(sig)],
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    dependencies = [("queues", "0021_decisions_on_any_subject"), ("intake", "0001_initial")]

    operations = [migrations.RunPython(resign, migrations.RunPython.noop)]
