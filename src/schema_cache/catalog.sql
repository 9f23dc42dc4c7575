-- The schema cache: one row per object, (section, the object as JSON). The rows stream to the
-- server, which decodes each as it arrives: no document of the whole schema is built in
-- PostgreSQL nor held whole by the server. `$1`: the exposed schemas, `$2`: the extra search path.
-- The request roles (those the authenticator may become), read once.
WITH request_roles AS MATERIALIZED (
  SELECT r.oid, r.rolname FROM pg_roles r
  WHERE r.rolname NOT LIKE 'pg\_%' AND pg_has_role(current_user, r.oid, 'MEMBER')
)
SELECT 'schemas' AS section, json_build_object('name', n.nspname, 'description', obj_description(n.oid, 'pg_namespace'))::text AS doc
FROM pg_namespace n WHERE n.nspname = ANY ($1::text[])
UNION ALL
SELECT 'tables', row_to_json(t)::text FROM (
  SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind,
    c.oid::int8 AS oid,
    obj_description(c.oid, 'pg_class') AS description,
    c.relispartition AS is_partition,
    c.relkind IN ('r', 'p') OR (c.relkind IN ('v', 'f') AND (pg_relation_is_updatable(c.oid::regclass, true) & 8) = 8)
      OR EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND (t.tgtype::int & 69) = 69) AS insertable,
    c.relkind IN ('r', 'p') OR (c.relkind IN ('v', 'f') AND (pg_relation_is_updatable(c.oid::regclass, true) & 4) = 4)
      OR EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND (t.tgtype::int & 81) = 81) AS updatable,
    c.relkind IN ('r', 'p') OR (c.relkind IN ('v', 'f') AND (pg_relation_is_updatable(c.oid::regclass, true) & 16) = 16)
      OR EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND (t.tgtype::int & 73) = 73) AS deletable,
    coalesce(cols.columns, '[]') AS columns,
    -- Key columns in key order, as for foreign keys below (no sort per key).
    coalesce((
      SELECT json_agg((SELECT a.attname FROM pg_attribute a WHERE a.attrelid = con.conrelid AND a.attnum = k.n))
      FROM pg_constraint con, unnest(con.conkey) k(n)
      WHERE con.conrelid = c.oid AND con.contype = 'p'), '[]') AS pk,
    coalesce((
      SELECT json_agg((SELECT json_agg((SELECT a.attname FROM pg_attribute a
                                        WHERE a.attrelid = con.conrelid AND a.attnum = k.n))
                       FROM unnest(con.conkey) k(n)))
      FROM pg_constraint con
      WHERE con.conrelid = c.oid AND con.contype IN ('p', 'u')), '[]') AS uniques,
    -- The request roles (those the authenticator may become) that may use the relation,
    -- so that "Perhaps you meant" names only what the requesting role could use.
    (SELECT coalesce(json_agg(r.rolname), '[]') FROM request_roles r
      WHERE has_schema_privilege(r.oid, n.oid, 'USAGE')
        AND (has_any_column_privilege(r.oid, c.oid, 'SELECT, INSERT, UPDATE')
             OR has_table_privilege(r.oid, c.oid, 'DELETE'))) AS usable_by
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  -- Every column of the exposed relations in one pass (not a subquery per relation).
  LEFT JOIN (
    SELECT a.attrelid,
      -- In any order (the server sorts them by `num`): an ordered aggregate would sort each
      -- relation's columns apart, a sort per relation.
      json_agg(json_build_object(
          'name', a.attname,
          'num', a.attnum,
          'type', format_type(a.atttypid, a.atttypmod),
          'nullable', NOT a.attnotnull,
          -- What a missing value becomes: the column's default, else its domain's; an
          -- identity column's next value; none for a generated column.
          'default', CASE
              WHEN a.attgenerated <> '' THEN NULL
              WHEN a.attidentity = 'd' THEN (
                SELECT format('nextval(%L::regclass)', quote_ident(sn.nspname) || '.' || quote_ident(sc.relname))
                FROM pg_depend dep
                JOIN pg_class sc ON sc.oid = dep.objid AND sc.relkind = 'S'
                JOIN pg_namespace sn ON sn.oid = sc.relnamespace
                WHERE dep.classid = 'pg_class'::regclass AND dep.refclassid = 'pg_class'::regclass
                  AND dep.refobjid = a.attrelid AND dep.refobjsubid = a.attnum AND dep.deptype = 'i'
                LIMIT 1)
              WHEN d.adbin IS NULL AND ty.typtype = 'd' THEN pg_get_expr(ty.typdefaultbin, 0)
              ELSE pg_get_expr(d.adbin, d.adrelid)
            END,
          'generated', a.attgenerated <> '' OR a.attidentity = 'a',
          'description', ds.description,
          'enum', en.labels,
          -- A domain's base type, through domains over domains.
          'base_type', CASE WHEN ty.typtype = 'd' THEN (
            WITH RECURSIVE b AS (
              SELECT bt.oid, bt.typtype, bt.typbasetype, 1 AS depth FROM pg_type bt WHERE bt.oid = ty.typbasetype
              UNION ALL
              SELECT bt.oid, bt.typtype, bt.typbasetype, b.depth + 1 FROM pg_type bt
              JOIN b ON bt.oid = b.typbasetype WHERE b.typtype = 'd' AND b.depth < 32)
            SELECT format_type(b.oid, NULL) FROM b WHERE b.typtype <> 'd' LIMIT 1) END,
          -- Domain representations: the implicit function casts between the column's domain
          -- and json/text (PostgreSQL ignores casts on domains; PostgREST applies them).
          'reps', CASE WHEN ty.typtype = 'd' THEN (
            SELECT json_object_agg(x.k, json_build_array(pn.nspname, pp.proname))
            FROM (SELECT CASE
                     WHEN ca.castsource = ty.oid AND ca.casttarget = 'json'::regtype THEN 'to_json'
                     WHEN ca.castsource = ty.oid AND ca.casttarget = 'text'::regtype THEN 'to_text'
                     WHEN ca.casttarget = ty.oid AND ca.castsource = 'json'::regtype THEN 'from_json'
                     WHEN ca.casttarget = ty.oid AND ca.castsource = 'text'::regtype THEN 'from_text'
                   END AS k, ca.castfunc
                  FROM pg_cast ca
                  WHERE ca.castmethod = 'f' AND ca.castcontext = 'i'
                    AND (ca.castsource = ty.oid OR ca.casttarget = ty.oid)) x
            JOIN pg_proc pp ON pp.oid = x.castfunc
            JOIN pg_namespace pn ON pn.oid = pp.pronamespace
            WHERE x.k IS NOT NULL) END
          )) AS columns
      FROM pg_attribute a
      JOIN pg_type ty ON ty.oid = a.atttypid
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      LEFT JOIN pg_description ds
        ON ds.objoid = a.attrelid AND ds.classoid = 'pg_class'::regclass AND ds.objsubid = a.attnum
      LEFT JOIN (SELECT e.enumtypid, json_agg(e.enumlabel ORDER BY e.enumsortorder) AS labels
                 FROM pg_enum e GROUP BY e.enumtypid) en
        ON en.enumtypid = CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END
      WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attrelid IN (
        SELECT c2.oid FROM pg_class c2 JOIN pg_namespace n2 ON n2.oid = c2.relnamespace
        WHERE n2.nspname = ANY ($1::text[]) AND c2.relkind IN ('r', 'v', 'm', 'f', 'p') AND NOT c2.relispartition)
      GROUP BY a.attrelid
  ) cols ON cols.attrelid = c.oid
  -- Partitions are reached through their partitioned table only.
  WHERE n.nspname = ANY ($1::text[]) AND c.relkind IN ('r', 'v', 'm', 'f', 'p') AND NOT c.relispartition
) t
UNION ALL
-- The query trees of the exposed views and of the views they may be built on in the
-- extra search path, to trace view columns to table columns.
SELECT 'views', json_build_object('oid', c.oid::int8, 'def', r.ev_action::text)::text
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
  -- to reorder them, no sort per key).
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
  ORDER BY n1.nspname, c1.relname, con.conname
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
    obj_description(p.oid, 'pg_proc') AS description,
    coalesce(to_json(p.proargnames), '[]') AS arg_names,
    coalesce(to_json(p.proargmodes::text[]), '[]') AS arg_modes,
    (SELECT coalesce(json_agg(format_type(u.t, NULL) ORDER BY u.o), '[]')
       FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) WITH ORDINALITY u(t, o)) AS arg_types,
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
  WHERE n.nspname = ANY ($1::text[]) AND p.prokind = 'f'
) r
