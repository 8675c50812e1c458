"""Seed the policy categories a creator platform's Trust & Safety team starts with.

The descriptions are written to be compared with content by the cold-start text model, so they
describe what violating content says, in concrete words.
"""

from django.db import migrations

CATEGORIES = [
    (
        "spam",
        "Spam",
        2,
        "Unsolicited bulk or repetitive promotion: advertising, mass mailings, link farms, "
        "'click here', 'buy now', 'limited offer', unsubscribe footers, SEO and follower-selling schemes.",
    ),
    (
        "scam_fraud",
        "Scams & fraud",
        4,
        "Attempts to deceive people out of money or credentials: fake giveaways, "
        "investment and crypto doubling schemes, advance-fee and lottery fraud, phishing for passwords or bank "
        "details, impersonation of brands, creators or support staff, fake accounts used to defraud.",
    ),
    (
        "harassment",
        "Harassment & bullying",
        3,
        "Insults, threats, intimidation or degrading remarks aimed at a "
        "person; encouraging others to attack someone; unwanted sexual remarks; doxxing private information.",
    ),
    (
        "hate",
        "Hate speech",
        4,
        "Attacks, slurs, dehumanising language or calls for exclusion aimed at people "
        "because of race, ethnicity, nationality, religion, caste, sexual orientation, gender, disability or disease.",
    ),
    (
        "sexual",
        "Sexual content",
        4,
        "Nudity, pornography, sexual acts or sexual solicitation; any sexualisation "
        "of minors is the gravest case and is escalated.",
    ),
    (
        "violence",
        "Violence & gore",
        4,
        "Graphic violence, gore, serious injury, threats or incitement to kill or "
        "hurt people, glorification of violent attacks or extremist organisations.",
    ),
    (
        "self_harm",
        "Self-harm & suicide",
        5,
        "Content that encourages, instructs or glorifies suicide, self-injury "
        "or eating disorders; statements of intent to harm oneself that need an urgent response.",
    ),
]


def seed(apps, schema_editor):
    PolicyCategory = apps.get_model("classifiers", "PolicyCategory")
    for position, (slug, name, severity, description) in enumerate(CATEGORIES, start=1):
        PolicyCategory.objects.update_or_create(
            slug=slug,
            defaults={"name": name, "severity": severity, "description": description, "position": position},
        )


def unseed(apps, schema_editor):
    apps.get_model("classifiers", "PolicyCategory").objects.filter(slug__in=[c[0] for c in CATEGORIES]).delete()


class Migration(migrations.Migration):
    dependencies = [("classifiers", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
