from django.apps import AppConfig


class PagesConfig(AppConfig):
    name = "hwfit.pages"
    label = "pages"
    verbose_name = "Pages"
