"""WSGI entry point, for tools that want one (management, debugging servers).

Production and `make run` serve `samembed.asgi:application` under gunicorn with
uvicorn workers, which adds the cache fast path in front of Django.
"""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "samembed.settings")

application = get_wsgi_application()
