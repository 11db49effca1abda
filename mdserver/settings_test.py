"""Settings for the test suite: the base settings, with jobs run in the caller."""

from mdserver.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests run jobs synchronously in the calling thread; the Celery path has its own
# tests that start a real worker against the real broker.
JOBS_BACKEND = "inprocess"
JOBS_INPROCESS_SYNC = True
WHITENOISE_AUTOREFRESH = True

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # A file, not memory, so that worker processes started by tests share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}  # noqa: F405
