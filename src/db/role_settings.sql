-- The settings of every role the authenticator can become (ALTER ROLE r [IN DATABASE d] SET …),
-- those of this database winning over those of all databases: applied in each request's
-- transaction after the role switch, as PostgREST does ("impersonated role settings").
-- Only what a role may set itself (context 'user', or a custom name with a dot), and not the
-- settings tusk sets itself.
SELECT r.rolname::text, s.name, s.value
FROM (
  SELECT DISTINCT ON (rs.setrole, split_part(setting, '=', 1))
         rs.setrole,
         split_part(setting, '=', 1) AS name,
         substr(setting, strpos(setting, '=') + 1) AS value
  FROM pg_catalog.pg_db_role_setting AS rs,
       LATERAL unnest(rs.setconfig) AS setting
  WHERE rs.setdatabase IN (0, (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()))
  ORDER BY rs.setrole, split_part(setting, '=', 1), rs.setdatabase DESC
) AS s
JOIN pg_catalog.pg_roles AS r ON r.oid = s.setrole
WHERE r.rolname <> current_user
  AND pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')
  AND s.name NOT IN ('role', 'search_path', 'session_authorization')
  AND s.name NOT LIKE 'request.%'
  AND (s.name LIKE '%.%'
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_settings AS p WHERE p.name = s.name AND p.context = 'user'))
ORDER BY r.rolname, s.name
