from django.apps import AppConfig


class ToolsConfig(AppConfig):
    name = "hwfit.tools"
    label = "tools"
    verbose_name = "Calculator, compare and search"
