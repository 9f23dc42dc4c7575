-- The schema cache, second half: views' definitions, keys, foreign keys, media handlers and
-- functions, as rows of (section, the object as JSON) like `relations.sql`, in the same
-- snapshot. `$1`: the exposed schemas, `$2`: the extra search path.
-- The request roles (those the authenticator may become), read once.
WITH request_roles AS MATERIALIZED (
  SELECT r.oid, r.rolname FROM pg_roles r
  WHERE r.rolname NOT LIKE 'pg\_%' AND pg_has_role(current_user, r.oid, 'MEMBER')
)
-- The query trees of the exposed views and of the views they may be built on in the
-- extra search path, to trace view columns to table columns.
SELECT 'views' AS section, json_build_object('oid', c.oid::int8, 'def', r.ev_action::text)::text
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_rewrite r ON r.ev_class = c.oid AND r.rulename = '_RETURN'
WHERE c.relkind IN ('v', 'm') AND n.nspname = ANY ($1::text[] || $2::text[])
UNION ALL
-- Of every table, exposed or not: a view gets the primary key of the tables it shows.
SELECT 'primary_keys', json_build_object('oid', con.conrelid::int8, 'nums', to_json(con.conkey))::text
FROM pg_constraint con
JOIN pg_namespace n ON n.oid = con.connamespace
WHERE con.contype = 'p' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT 'foreign_keys', row_to_json(f)::text FROM (
  -- Column names in key order: the aggregates read unnest()'s rows in array order (no join
  -- to reorder them, no sort per key). In any order of keys: the server sorts them.
  SELECT con.conname AS name,
    n1.nspname AS schema, c1.relname AS table,
    (SELECT json_agg((SELECT a.attname FROM pg_attribute a WHERE a.attrelid = con.conrelid AND a.attnum = k.n))
       FROM unnest(con.conkey) k(n)) AS columns,
    n2.nspname AS foreign_schema, c2.relname AS foreign_table,
    (SELECT json_agg((SELECT a.attname FROM pg_attribute a WHERE a.attrelid = con.confrelid AND a.attnum = k.n))
       FROM unnest(con.confkey) k(n)) AS foreign_columns,
    con.conrelid::int8 AS table_oid, to_json(con.conkey) AS column_nums,
    con.confrelid::int8 AS foreign_table_oid, to_json(con.confkey) AS foreign_column_nums,
    -- Its columns are a primary key or unique constraint of its table: one-to-one.
    EXISTS (SELECT 1 FROM pg_constraint u WHERE u.conrelid = con.conrelid AND u.contype IN ('p', 'u')
            AND u.conkey @> con.conkey AND u.conkey <@ con.conkey) AS one_to_one
  FROM pg_constraint con
  JOIN pg_class c1 ON c1.oid = con.conrelid JOIN pg_namespace n1 ON n1.oid = c1.relnamespace
  JOIN pg_class c2 ON c2.oid = con.confrelid JOIN pg_namespace n2 ON n2.oid = c2.relnamespace
  -- All user foreign keys: views in the exposed schemas may sit on tables elsewhere.
  -- Not the copies of a partitioned table's key on its partitions (conparentid).
  WHERE con.contype = 'f' AND n1.nspname NOT IN ('pg_catalog', 'information_schema') AND con.conparentid = 0
) f
UNION ALL
SELECT 'media_handlers', row_to_json(h)::text FROM (
  SELECT n.nspname AS schema, p.proname AS name,
    (SELECT json_build_array(tn.nspname, tc.relname) FROM pg_type it
       JOIN pg_class tc ON tc.oid = it.typrelid JOIN pg_namespace tn ON tn.oid = tc.relnamespace
       WHERE it.oid = p.proargtypes[0]) AS input,
    rt.typname AS media,
    format_type(CASE WHEN rt.typtype = 'd' THEN rt.typbasetype ELSE rt.oid END, NULL) AS base
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_type rt ON rt.oid = p.prorettype
  WHERE p.prokind = 'a' AND p.pronargs = 1 AND rt.typname LIKE '%/%' AND n.nspname = ANY ($1::text[])
    AND (p.proargtypes[0] = 'anyelement'::regtype
         OR EXISTS (SELECT 1 FROM pg_type it WHERE it.oid = p.proargtypes[0] AND it.typrelid <> 0))
  ORDER BY n.nspname, p.proname
) h
UNION ALL
SELECT 'routines', row_to_json(r)::text FROM (
  SELECT n.nspname AS schema, p.proname AS name,
    pd.description,
    coalesce(to_json(p.proargnames), '[]') AS arg_names,
    coalesce(to_json(p.proargmodes::text[]), '[]') AS arg_modes,
    -- In argument order, as unnest() gives them (an ordered aggregate sorts per function).
    (SELECT coalesce(json_agg(format_type(u.t, NULL)), '[]')
       FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) u(t)) AS arg_types,
    p.pronargdefaults AS n_defaults,
    p.proretset AS returns_set,
    format_type(p.prorettype, NULL) AS return_type,
    -- A domain over a row type returns rows of that type.
    CASE WHEN rt.typtype = 'd' AND bt.typtype = 'c' THEN 'c' ELSE rt.typtype::text END AS return_typtype,
    CASE WHEN bt.typrelid <> 0 THEN rn.nspname END AS return_schema,
    CASE WHEN bt.typrelid <> 0 THEN rc.relname END AS return_relation,
    CASE WHEN rt.typtype = 'd' THEN rt.typname END AS return_domain,
    CASE WHEN rt.typtype = 'd' THEN format_type(rt.typbasetype, NULL) END AS return_domain_base,
    p.provolatile::text AS volatility,
    p.provariadic <> 0 AS variadic,
    p.prorows::float8 AS rows,
    coalesce(to_json(p.proconfig), '[]') AS settings,
    -- The relation whose row is the only argument (a computed relationship's source).
    (SELECT json_build_array(an.nspname, ac.relname) FROM pg_type at
       JOIN pg_class ac ON ac.oid = at.typrelid JOIN pg_namespace an ON an.oid = ac.relnamespace
       WHERE p.pronargs = 1 AND at.oid = p.proargtypes[0] AND ac.relkind IN ('r', 'v', 'm', 'f', 'p')) AS arg_relation,
    -- The request roles that may call it (for "Perhaps you meant", as for relations).
    (SELECT coalesce(json_agg(r.rolname), '[]') FROM request_roles r
      WHERE has_schema_privilege(r.oid, n.oid, 'USAGE')
        AND has_function_privilege(r.oid, p.oid, 'EXECUTE')) AS usable_by
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_type rt ON rt.oid = p.prorettype
  -- The return type with its domains (if any) peeled off.
  JOIN pg_type bt ON bt.oid = (
    WITH RECURSIVE d(oid, base) AS (
      SELECT rt.oid, rt.typbasetype
      UNION ALL
      SELECT t.oid, t.typbasetype FROM d JOIN pg_type t ON t.oid = d.base WHERE d.base <> 0
    ) SELECT d.oid FROM d WHERE d.base = 0 LIMIT 1)
  LEFT JOIN pg_class rc ON rc.oid = bt.typrelid
  LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
  LEFT JOIN pg_description pd ON pd.objoid = p.oid AND pd.classoid = 'pg_proc'::regclass AND pd.objsubid = 0
  WHERE n.nspname = ANY ($1::text[]) AND p.prokind = 'f'
) r
