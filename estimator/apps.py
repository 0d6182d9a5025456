from django.apps import AppConfig


class EstimatorConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "estimator"
    verbose_name = "Estimator"

    def ready(self) -> None:
        # Catalog and calibration fit edits make every process reload its in-memory catalog.
        from estimator.services.catalog_cache import connect_signals

        connect_signals()
