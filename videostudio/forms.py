"""How the studio's forms render."""

from django.forms.renderers import TemplatesSetting


class FormRenderer(TemplatesSetting):
    """Render a field (`{{ field.as_field_group }}`) as every page shows it, from templates/."""

    field_template_name = "forms/field.html"
