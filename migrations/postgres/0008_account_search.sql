-- Account search (console Users screen, admin API `q=`): a substring of
-- the userName or the displayName, both folded, as `LIKE '%...%'`. Trigram
-- indexes (pg_trgm, a contrib extension every PostgreSQL package ships)
-- let the planner fetch the few accounts that hold a rare substring
-- instead of reading the table; for a common one it still walks the list
-- index in order and stops after a page.
-- The extension goes into its own schema (scim_bridge_ext), so that
-- dropping the schema the tables live in never takes it, or another
-- schema's indexes on it, along; where it is installed already, it stays
-- where it is. Where it cannot be installed (no right to, or not shipped),
-- the migration says so and search works without the index, by reading
-- the list index.
-- (Migrations run under sqlx's database-wide advisory lock: two servers
-- starting at once do not both install it.)
DO $$
DECLARE
    ext_schema text;
BEGIN
    SELECT n.nspname INTO ext_schema
        FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_trgm';
    IF ext_schema IS NULL THEN
        BEGIN
            CREATE SCHEMA IF NOT EXISTS scim_bridge_ext;
            CREATE EXTENSION pg_trgm SCHEMA scim_bridge_ext;
            ext_schema := 'scim_bridge_ext';
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'pg_trgm could not be installed (%): account search reads the list index instead of a trigram index', SQLERRM;
            RETURN;
        END;
    END IF;
    EXECUTE format(
        'CREATE INDEX users_search_user_name ON users USING gin (user_name_folded %I.gin_trgm_ops)',
        ext_schema);
    EXECUTE format(
        'CREATE INDEX users_search_display_name ON users USING gin (display_name_folded %I.gin_trgm_ops)',
        ext_schema);
END
$$;
