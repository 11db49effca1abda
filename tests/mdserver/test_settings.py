import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from mdserver.env import Env

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    environ.update(env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=environ, capture_output=True, text=True)


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "mysqlx://u@h/db",
        "postgres://u@:5432/db",
        "postgres://u@host:notaport/db",
        "postgres://u@host:5432/",
    ],
)
def test_env_refuses_malformed_database_url(url):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        Env({"DATABASE_URL": url}).database("DATABASE_URL", Path("/tmp/x.sqlite3"))


def test_env_unset_database_url_is_embedded_sqlite():
    config = Env({}).database("DATABASE_URL", Path("/tmp/x.sqlite3"))
    assert config == {"ENGINE": "django.db.backends.sqlite3", "NAME": "/tmp/x.sqlite3"}


def test_env_parses_postgres_url():
    config = Env({"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/mdserver"}).database("DATABASE_URL", Path("x"))
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["NAME"]) == ("127.0.0.1", 5432, "mdserver")


def test_env_malformed_message_never_echoes_password():
    with pytest.raises(ImproperlyConfigured) as info:
        Env({"DATABASE_URL": "mysqlx://user:hunter2@host/db"}).database("DATABASE_URL", Path("x"))
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("name,value", [("DJANGO_DEBUG", "maybe"), ("MDSERVER_JOBS_WORKERS", "two")])
def test_env_refuses_malformed_scalars(name, value):
    env = Env({name: value})
    with pytest.raises(ImproperlyConfigured, match=name):
        env.bool(name, True) if name == "DJANGO_DEBUG" else env.int(name, 2)


def test_env_refuses_malformed_redis_url():
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL"):
        Env({"REDIS_URL": "http://127.0.0.1:6379"}).redis_url("REDIS_URL")


def test_startup_stops_on_malformed_database_url_naming_the_variable():
    result = run_manage("check", DATABASE_URL="postgres//oops")
    assert result.returncode != 0
    assert "DATABASE_URL is malformed" in result.stderr


def test_startup_stops_on_malformed_redis_url_naming_the_variable():
    result = run_manage("check", REDIS_URL="localhost:6379")
    assert result.returncode != 0
    assert "REDIS_URL is malformed" in result.stderr


def test_production_settings_pass_check_deploy():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SETTINGS_MODULE="mdserver.settings_production",
        DJANGO_SECRET_KEY="x9" * 30 + "-production-secret-for-the-check",
        DJANGO_ALLOWED_HOSTS="md.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_settings_refuse_missing_secret_key():
    result = run_manage("check", DJANGO_SETTINGS_MODULE="mdserver.settings_production", DJANGO_SECRET_KEY="")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_fresh_checkout_migrates_into_a_new_var_directory(tmp_path):
    var = tmp_path / "fresh" / "var"
    result = run_manage("migrate", "--noinput", MDSERVER_VAR_DIR=str(var))
    assert result.returncode == 0, result.stderr
    assert (var / "db.sqlite3").exists()


BACKEND_PIDS = (
    "from django.db import connection\n"
    "pids = []\n"
    "for _ in range(6):\n"
    "    with connection.cursor() as cursor:\n"
    "        cursor.execute('SELECT pg_backend_pid()')\n"
    "        pids.append(cursor.fetchone()[0])\n"
    "    connection.close()  # what Django does at the end of every request\n"
    "print(len(set(pids)))\n"
)


@pytest.mark.django_db
@pytest.mark.parametrize(("pool_max", "opened"), [("20", {1, 2}), ("0", {6})])
def test_postgres_connections_come_from_a_pool_unless_turned_off(pool_max, opened):
    """Six "requests": from the pool, the one or two connections it opened serve them all; without, six."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the connection pool is PostgreSQL's")
    database = connection.settings_dict
    url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    result = run_manage("shell", "-c", BACKEND_PIDS, DATABASE_URL=url, MDSERVER_DB_POOL_MAX=pool_max)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[-1]) in opened


KILLED_THEN_QUERIED = (
    "import psycopg\n"
    "from django.db import connection\n"
    "def backend_pid():\n"
    "    with connection.cursor() as cursor:\n"
    "        cursor.execute('SELECT pg_backend_pid()')\n"
    "        return cursor.fetchone()[0]\n"
    "first = backend_pid()\n"
    "connection.close()  # back into the pool\n"
    "params = connection.get_connection_params()\n"
    "with psycopg.connect(host=params['host'], port=params['port'], user=params['user'], dbname=params['dbname'],\n"
    "                     autocommit=True) as admin:  # the server ends the pooled connections (a restart, a DBA)\n"
    "    admin.execute('SELECT pg_terminate_backend(pid) FROM pg_stat_activity'\n"
    "                  \" WHERE application_name = 'pooled-under-test' AND pid <> pg_backend_pid()\")\n"
    "print(first != backend_pid())\n"
)


@pytest.mark.django_db
def test_a_pooled_connection_the_server_ended_is_not_handed_out_again():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the connection pool is PostgreSQL's")
    database = connection.settings_dict
    url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    result = run_manage("shell", "-c", KILLED_THEN_QUERIED, DATABASE_URL=url, PGAPPNAME="pooled-under-test")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "True"
