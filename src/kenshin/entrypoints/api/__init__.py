"""The admin API (``/api/v1``, described by ``/api/v1/openapi.json``) and the console
(``/``) on the HTTP side of ``kenshin serve``. Every route asks ``auth.allowed`` for
the action it does; every change is written to the audit log."""
