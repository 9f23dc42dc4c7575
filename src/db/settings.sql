SELECT DISTINCT ON (name) name, value
FROM (
  SELECT CASE WHEN rs.setdatabase = 0 THEN 1 ELSE 2 END AS rank,
         split_part(setting, '=', 1) AS name,
         substr(setting, strpos(setting, '=') + 1) AS value
  FROM pg_catalog.pg_db_role_setting AS rs,
       LATERAL unnest(rs.setconfig) AS setting
  WHERE rs.setrole = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)
    AND rs.setdatabase IN (0, (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()))
  UNION ALL
  SELECT 0, n, pg_catalog.current_setting(n, true)
  FROM unnest($1::text[]) AS n
  WHERE $2
) AS settings
WHERE name = ANY($1) AND value IS NOT NULL
ORDER BY name, rank DESC
