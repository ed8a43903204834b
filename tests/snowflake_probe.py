"""Runs inside target-snowflake's own venv (it pins singer-sdk 0.55, so not in ours).

`ddl CONFIG_JSON`: with fakesnow importable, feed the Singer SCHEMA messages on stdin to
MeltanoLabs target-snowflake against fakesnow's in-memory Snowflake. Only DDL can run there
(fakesnow rejects the staged loads: PUT to @~, SELECT FROM '@stage', REMOVE).
`count SCHEMA TABLE KEY,...` / `drop SCHEMA`: on the real account from SNOWFLAKE_* env vars,
count rows and distinct keys / drop the test schema.
Both print JSON on stdout.
"""

import json
import os
import sys

import snowflake.connector


def columns(conn, schema):
    rows = conn.cursor().execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = %s ORDER BY table_name, ordinal_position",
        (schema,),
    )
    tables = {}
    for table, column, data_type in rows.fetchall():
        tables.setdefault(table, {})[column] = data_type
    return tables


def ddl(config):
    import fakesnow  # only this mode has it on the path
    from target_snowflake.target import TargetSnowflake

    with fakesnow.patch():
        TargetSnowflake(config=config).listen(sys.stdin)
        conn = snowflake.connector.connect(**config)
        return columns(conn, config["default_target_schema"])


def connect_live():
    return snowflake.connector.connect(
        account=os.environ["SNOWFLAKE_ACCOUNT"],
        user=os.environ["SNOWFLAKE_USER"],
        password=os.environ["SNOWFLAKE_PASSWORD"],
        database=os.environ["SNOWFLAKE_DATABASE"],
        warehouse=os.environ.get("SNOWFLAKE_WAREHOUSE"),
        role=os.environ.get("SNOWFLAKE_ROLE"),
    )


def count(schema, table, keys):
    with connect_live() as conn:
        rows, distinct = (
            conn.cursor()
            .execute(f"SELECT count(*), count(DISTINCT {keys}) FROM {schema}.{table}")  # noqa: S608
            .fetchone()
        )
    return {"rows": rows, "distinct": distinct}


def drop(schema):
    with connect_live() as conn:
        conn.cursor().execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    return {"dropped": schema}


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "ddl":
        json.dump(ddl(json.loads(args[0])), sys.stdout)
    else:
        json.dump({"count": count, "drop": drop}[mode](*args), sys.stdout)
