from django.contrib import admin


class PublishedPriceAdmin(admin.ModelAdmin):
    """Admin for a price as published on a date.

    A new price is a new record: once saved, the price, its date and its source are not edited
    in place (`published_facts`), so the history of what was published stays true.
    """

    published_facts: tuple[str, ...] = ()
    readonly_fields = ("as_of_date", "created_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return (*fields, *self.published_facts) if obj is not None else fields
