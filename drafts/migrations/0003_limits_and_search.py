"""Drafts keep their prompt count and a folded search text beside the prompts.

Lists show the count without reading the prompts, and search looks in the folded
text (name and prompt texts, case and accents folded), never in the JSON's keys.
"""

import unicodedata

from django.db import migrations, models


def _fold(text):
    # A copy of drafts.services.fold as it was when this migration was written.
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fill(apps, schema_editor):
    Draft = apps.get_model("drafts", "Draft")
    for draft in Draft.objects.only("pk", "name", "prompts").iterator(chunk_size=200):
        prompts = draft.prompts if isinstance(draft.prompts, list) else []
        texts = [p.get("text", "") for p in prompts if isinstance(p, dict)]
        texts = [t for t in texts if isinstance(t, str)]
        Draft.objects.filter(pk=draft.pk).update(
            prompt_count=len(prompts), search_text=_fold("\n".join([draft.name, *texts]))
        )


class Migration(migrations.Migration):
    dependencies = [
        ("drafts", "0002_versions_and_visibility"),
    ]

    operations = [
        migrations.AddField(
            model_name="draft",
            name="prompt_count",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name="draft",
            name="search_text",
            field=models.TextField(default="", editable=False),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
