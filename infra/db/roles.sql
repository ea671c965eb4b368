-- Klankbord: the PostgreSQL database, its owner role and the app role.
--
-- The SQL twin of `klankbord db-provision` (platform/klankbord/provision.py); keep them in step.
-- Safe to run again: existing roles get their attributes and password reset, an existing
-- database is kept.
--
--   owner role  owns the database and schema `public`; runs `klankbord migrate`
--               (KLANKBORD_MIGRATION_DATABASE_URL). Never used by the web app.
--   app role    what the web app connects as (KLANKBORD_DATABASE_URL): LOGIN, not owner,
--               NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS, so row-level security binds
--               it. It gets data privileges only through the owner's default privileges.
--
-- Run as a superuser, or as a role with CREATEROLE and CREATEDB (managed PostgreSQL's
-- admin user), connected to any existing database (e.g. `postgres`):
--
--   export KLANKBORD_DB_OWNER_PASSWORD=... KLANKBORD_DB_APP_PASSWORD=...   # never on argv
--   psql "host=db.example.internal user=postgres dbname=postgres sslmode=require" \
--        -v ON_ERROR_STOP=1 -f infra/db/roles.sql
--
-- psql variables (each also read from the environment variable that db-provision reads;
-- a -v value wins, reading the environment needs psql 15 or newer):
--   db_name         KLANKBORD_DB_NAME            default klankbord
--   owner_role      KLANKBORD_DB_OWNER_ROLE      default klankbord_owner
--   owner_password  KLANKBORD_DB_OWNER_PASSWORD  required
--   app_role        KLANKBORD_DB_APP_ROLE        default klankbord_app
--   app_password    KLANKBORD_DB_APP_PASSWORD    required
--
-- Passwords given with -v sit in shell history and in `ps`: prefer the environment.
-- The CREATE/ALTER ROLE statements carry the password; make sure the server does not log
-- them (log_statement = 'ddl' or 'all' would): `SET log_statement = 'none'` is applied below
-- when the connecting role may do so.

\set ON_ERROR_STOP on
\set QUIET on

-- ---- inputs ---------------------------------------------------------------------------
\if :{?db_name}
\else
  \getenv db_name KLANKBORD_DB_NAME
  \if :{?db_name}
  \else
    \set db_name klankbord
  \endif
\endif
\if :{?owner_role}
\else
  \getenv owner_role KLANKBORD_DB_OWNER_ROLE
  \if :{?owner_role}
  \else
    \set owner_role klankbord_owner
  \endif
\endif
\if :{?app_role}
\else
  \getenv app_role KLANKBORD_DB_APP_ROLE
  \if :{?app_role}
  \else
    \set app_role klankbord_app
  \endif
\endif
\if :{?owner_password}
\else
  \getenv owner_password KLANKBORD_DB_OWNER_PASSWORD
\endif
\if :{?app_password}
\else
  \getenv app_password KLANKBORD_DB_APP_PASSWORD
\endif
\if :{?owner_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'roles.sql: owner_password is required (-v owner_password=... or KLANKBORD_DB_OWNER_PASSWORD)'; END $$;
\endif
\if :{?app_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'roles.sql: app_password is required (-v app_password=... or KLANKBORD_DB_APP_PASSWORD)'; END $$;
\endif

-- The same identifier rule as provision.py: lower-case letters, digits, underscore.
SELECT :'db_name' ~ '^[a-z_][a-z0-9_]{0,62}$'
   AND :'owner_role' ~ '^[a-z_][a-z0-9_]{0,62}$'
   AND :'app_role' ~ '^[a-z_][a-z0-9_]{0,62}$'
   AND :'owner_role' <> :'app_role' AS names_ok,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS is_superuser
\gset
\if :names_ok
\else
  DO $$ BEGIN RAISE EXCEPTION 'roles.sql: db_name, owner_role and app_role must match ^[a-z_][a-z0-9_]{0,62}$ and differ'; END $$;
\endif

-- Never demote the connecting role or an existing superuser by a typo in a role name.
SELECT NOT EXISTS (SELECT 1 FROM pg_roles
                    WHERE rolname IN (:'owner_role', :'app_role')
                      AND (rolsuper OR rolname = current_user)) AS targets_ok
\gset
\if :targets_ok
\else
  DO $$ BEGIN RAISE EXCEPTION 'roles.sql: owner_role or app_role names the connecting role or an existing superuser'; END $$;
\endif

\if :is_superuser
  SET log_statement = 'none';
\endif

-- ---- roles (cluster-wide) -------------------------------------------------------------
-- CREATE or ALTER, as provision.py does. psql does not expand variables inside a DO
-- block, so each statement is built with format() and run with \gexec.
-- Only a superuser may even mention SUPERUSER or BYPASSRLS in ALTER ROLE; without one, an
-- existing role is altered without them and the check at the end makes sure of both.
SELECT format('%s ROLE %I %s PASSWORD %L',
         CASE WHEN r.existing THEN 'ALTER' ELSE 'CREATE' END,
         r.name,
         CASE WHEN r.existing AND NOT :'is_superuser'::boolean
              THEN 'LOGIN NOCREATEDB NOCREATEROLE'
              ELSE 'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS' END,
         r.password)
  FROM (SELECT name, password, EXISTS (SELECT 1 FROM pg_roles WHERE rolname = name) AS existing
          FROM (VALUES (:'owner_role', :'owner_password'), (:'app_role', :'app_password'))
               AS v(name, password)) AS r
\gexec

-- Without superuser, CREATE DATABASE … OWNER, ALTER SCHEMA … OWNER and ALTER DEFAULT
-- PRIVILEGES FOR ROLE need the admin to be a member of the owner role.
\if :is_superuser
\else
  SELECT format('GRANT %I TO %I', :'owner_role', current_user)
   WHERE NOT pg_has_role(current_user, :'owner_role', 'MEMBER')
  \gexec
\endif

-- ---- the database ---------------------------------------------------------------------
-- CREATE DATABASE cannot run inside a transaction block (nor a DO block): \gexec it.
SELECT format('CREATE DATABASE %I OWNER %I', :'db_name', :'owner_role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db_name')
\gexec

SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db_name') \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I, %I', :'db_name', :'owner_role', :'app_role')
\gexec

-- ---- inside the database: the owner owns the schema, the app role only uses it --------
\connect :"db_name"

SELECT format('ALTER SCHEMA public OWNER TO %I', :'owner_role') \gexec
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SELECT format('GRANT USAGE ON SCHEMA public TO %I', :'app_role') \gexec

-- Whatever the owner creates later (every migration) is usable by the app role. No
-- TRUNCATE, REFERENCES or TRIGGER: TRUNCATE would bypass row-level security.
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public'
              ' GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', :'owner_role', :'app_role')
\gexec
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public'
              ' GRANT USAGE, SELECT ON SEQUENCES TO %I', :'owner_role', :'app_role')
\gexec
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public'
              ' GRANT EXECUTE ON FUNCTIONS TO %I', :'owner_role', :'app_role')
\gexec

-- ---- check what we got ----------------------------------------------------------------
SELECT bool_and(NOT rolsuper AND NOT rolbypassrls AND NOT rolcreatedb AND NOT rolcreaterole
                AND rolcanlogin) AS roles_ok
  FROM pg_roles WHERE rolname IN (:'owner_role', :'app_role')
\gset
\if :roles_ok
\else
  DO $$ BEGIN RAISE EXCEPTION 'roles.sql: a role still has SUPERUSER, BYPASSRLS, CREATEDB or CREATEROLE, or cannot log in'; END $$;
\endif

\unset QUIET
\echo 'database and roles ready:' :db_name 'owner' :owner_role 'app' :app_role
